-- The price book: what each model costs per million tokens from a date on, by version.
-- Loaded from prices/*.json when the consumer starts; an entry is never changed in place: a new
-- version restates it. Prices are in currency units per million tokens, exact to 1e-9.
CREATE TABLE price_book (
  version                   text        NOT NULL,
  provider                  text        NOT NULL DEFAULT '*',
  model                     text        NOT NULL,
  effective_from            timestamptz NOT NULL,
  input_per_million         numeric(30, 9) NOT NULL CHECK (input_per_million >= 0),
  output_per_million        numeric(30, 9) NOT NULL CHECK (output_per_million >= 0),
  cached_input_per_million  numeric(30, 9) NOT NULL CHECK (cached_input_per_million >= 0),
  reasoning_per_million     numeric(30, 9) NOT NULL CHECK (reasoning_per_million >= 0),
  loaded_at                 timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (version, provider, model, effective_from)
);

-- How each applied event was billed: 'reported' (the producer's cost), 'book' (tokens x price),
-- or NULL for an event that is not usage or could not be priced.
ALTER TABLE applied_events ADD COLUMN cost_source text CHECK (cost_source IN ('reported', 'book'));
ALTER TABLE applied_events ADD COLUMN price_version text;

-- Unpriced usage is never silently $0: the session says how much it could not price.
ALTER TABLE trace_sessions ADD COLUMN unpriced_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE trace_sessions ADD COLUMN price_version text;
