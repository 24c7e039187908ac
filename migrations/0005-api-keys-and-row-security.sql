-- API keys: one tenant each, with scopes. Only a SHA-256 of the secret is stored (the secret is
-- 256 random bits, so a slow hash adds nothing); the full key is shown once, at creation.
CREATE TABLE api_keys (
  key_id       text        PRIMARY KEY,
  tenant_id    text        NOT NULL,
  scopes       text[]      NOT NULL CHECK (scopes <@ ARRAY['ingest', 'query', 'admin']::text[] AND cardinality(scopes) > 0),
  secret_hash  bytea       NOT NULL,
  label        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- A second wall behind the application's tenant filters: the query service reads as the role
-- traceledger_query, which sees only the rows of the tenant set in traceledger.tenant_id for
-- its transaction. No tenant set: no rows.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'traceledger_query') THEN
    CREATE ROLE traceledger_query NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO traceledger_query;
GRANT SELECT ON trace_sessions, session_rollup_hourly TO traceledger_query;

ALTER TABLE trace_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE session_rollup_hourly ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON trace_sessions FOR SELECT TO traceledger_query
  USING (tenant_id = current_setting('traceledger.tenant_id', true));
CREATE POLICY tenant_isolation ON session_rollup_hourly FOR SELECT TO traceledger_query
  USING (tenant_id = current_setting('traceledger.tenant_id', true));
