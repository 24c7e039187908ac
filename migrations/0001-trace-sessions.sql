-- The single source of truth: one row per (tenant, session). Billing and analytics read only this.
-- Event ids compare with COLLATE "C" (bytewise) so Postgres breaks ties exactly as the fold does.
CREATE TABLE trace_sessions (
  tenant_id           text        NOT NULL,
  session_id          text        NOT NULL,
  agent_id            text,
  agent_key_at        timestamptz,
  agent_key_event     text COLLATE "C",
  team_id             text,
  team_key_at         timestamptz,
  team_key_event      text COLLATE "C",
  started_event_at    timestamptz,
  first_event_at      timestamptz NOT NULL,
  last_event_at       timestamptz NOT NULL,
  started_at          timestamptz GENERATED ALWAYS AS (coalesce(started_event_at, first_event_at)) STORED,
  ended_at            timestamptz,
  end_event_id        text COLLATE "C",
  duration_ms         bigint GENERATED ALWAYS AS (
                        CASE WHEN ended_at IS NULL THEN NULL
                        ELSE greatest(0, (extract(epoch FROM (ended_at - coalesce(started_event_at, first_event_at))) * 1000)::bigint)
                        END) STORED,
  status              text        NOT NULL DEFAULT 'running'
                        CHECK (status IN ('running', 'success', 'error', 'timeout', 'cancelled')),
  input_tokens        bigint      NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
  output_tokens       bigint      NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
  cached_input_tokens bigint      NOT NULL DEFAULT 0 CHECK (cached_input_tokens >= 0),
  reasoning_tokens    bigint      NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0),
  cost                numeric(30, 9) NOT NULL DEFAULT 0 CHECK (cost >= 0),
  unpriced_events     integer     NOT NULL DEFAULT 0,
  tool_calls          integer     NOT NULL DEFAULT 0,
  event_count         integer     NOT NULL DEFAULT 0,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, session_id)
);

-- Dashboards filter by tenant and time, and by agent or team within a tenant.
CREATE INDEX trace_sessions_tenant_started ON trace_sessions (tenant_id, started_at);
CREATE INDEX trace_sessions_tenant_agent_started ON trace_sessions (tenant_id, agent_id, started_at);
CREATE INDEX trace_sessions_tenant_team_started ON trace_sessions (tenant_id, team_id, started_at);

-- Every event folded so far, keyed by its idempotency key. Written in the same transaction as
-- the trace_sessions change it caused, so a redelivered or replayed event is a no-op. It keeps
-- each event's contribution so a session can be recomputed (voids, re-pricing, replay).
CREATE TABLE applied_events (
  tenant_id           text        NOT NULL,
  event_id            text COLLATE "C" NOT NULL,
  session_id          text        NOT NULL,
  type                text        NOT NULL,
  occurred_at         timestamptz NOT NULL,
  agent_id            text,
  team_id             text,
  provider            text,
  model               text,
  input_tokens        bigint      NOT NULL DEFAULT 0,
  output_tokens       bigint      NOT NULL DEFAULT 0,
  cached_input_tokens bigint      NOT NULL DEFAULT 0,
  reasoning_tokens    bigint      NOT NULL DEFAULT 0,
  reported_cost       numeric(30, 9),
  cost                numeric(30, 9),
  status              text,
  voids_event_id      text COLLATE "C",
  -- Set when an event.voided cancelled this event: it then counts nowhere.
  voided_by           text COLLATE "C",
  source_partition    integer,
  source_offset       bigint,
  applied_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX applied_events_session ON applied_events (tenant_id, session_id);
