-- Idempotency-Key on POST /v1/events: the first answer for a (tenant, key) is kept here and a
-- retry with the same key gets it back instead of publishing again.
--
-- A request claims its key by inserting a row 'in_progress' with a claim_id of its own; a second
-- request with the same key finds the row and waits for 'done' (or gets 409). The owner stores the
-- answer (status 'done') or, when it could not answer (Kafka or the database down: a 5xx), deletes
-- its claim so that a retry starts afresh. A claim left 'in_progress' for over a minute belongs to
-- a process that died mid-request and is taken over by the next request with the same body.
--
-- Rows expire 24 hours (IDEMPOTENCY_TTL_HOURS) after the first request: a later request with the
-- key is new, and ingest deletes expired rows every few minutes.
CREATE TABLE idempotency_keys (
  tenant_id        text        NOT NULL,
  key              text        NOT NULL,
  -- SHA-256 of the request body as received, after Content-Encoding is undone.
  body_sha256      bytea       NOT NULL CHECK (length(body_sha256) = 32),
  status           text        NOT NULL CHECK (status IN ('in_progress', 'done')),
  claim_id         uuid        NOT NULL,
  response_status  smallint,
  -- json, not jsonb: the answer is replayed byte for byte (jsonb would reorder its keys).
  response         json,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key),
  CHECK ((status = 'done') = (response_status IS NOT NULL AND response IS NOT NULL))
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
