-- OTLP ingest (POST /v1/traces) keeps the shape of each trace it has seen: one row per span with
-- its parent link, its session and whether it carries usage. An agent or workflow span often
-- carries the sum of its children's usage; it counts only while no descendant in the same trace
-- carries usage (docs/otel.md). Spans of one trace may arrive in different requests and in any
-- order, so the rule is applied over everything recorded for the trace, under a per-trace lock,
-- each time one of its spans arrives: an aggregate that turns out to be covered is voided.
--
-- Rows older than OTEL_SPAN_RETENTION_HOURS (default 168) are deleted by ingest: a child span
-- arriving later than that after its ancestor is no longer related to it.
CREATE TABLE otel_spans (
  tenant_id       text        NOT NULL,
  trace_id        text        NOT NULL COLLATE "C",
  span_id         text        NOT NULL COLLATE "C",
  parent_span_id  text        COLLATE "C",
  session_id      text        NOT NULL,
  -- null: no usage; 'model': a model call's usage (counts); 'aggregate': counts only while no
  -- descendant carries usage.
  usage           text        CHECK (usage IN ('model', 'aggregate')),
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, trace_id, span_id)
);
CREATE INDEX otel_spans_created_at ON otel_spans (created_at);
