-- Per-model usage also carries the tokens of that model's unpriced events ("unpriced_tokens"),
-- so answers grouped or filtered by model report unpriced tokens exactly (before, a model with
-- one unpriced event counted all its tokens as unpriced).
CREATE OR REPLACE FUNCTION tl_merge_models(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(jsonb_object_agg(k, jsonb_build_object(
    'input',           coalesce((a -> k ->> 'input')::bigint, 0)           + coalesce((b -> k ->> 'input')::bigint, 0),
    'output',          coalesce((a -> k ->> 'output')::bigint, 0)          + coalesce((b -> k ->> 'output')::bigint, 0),
    'cached',          coalesce((a -> k ->> 'cached')::bigint, 0)          + coalesce((b -> k ->> 'cached')::bigint, 0),
    'reasoning',       coalesce((a -> k ->> 'reasoning')::bigint, 0)       + coalesce((b -> k ->> 'reasoning')::bigint, 0),
    'cost',            (coalesce((a -> k ->> 'cost')::numeric, 0)         + coalesce((b -> k ->> 'cost')::numeric, 0))::text,
    'events',          coalesce((a -> k ->> 'events')::bigint, 0)          + coalesce((b -> k ->> 'events')::bigint, 0),
    'unpriced',        coalesce((a -> k ->> 'unpriced')::bigint, 0)        + coalesce((b -> k ->> 'unpriced')::bigint, 0),
    'unpriced_tokens', coalesce((a -> k ->> 'unpriced_tokens')::bigint, 0) + coalesce((b -> k ->> 'unpriced_tokens')::bigint, 0)
  )), '{}'::jsonb)
  FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) AS keys(k)
$$;

-- Existing rows: recount each model's unpriced tokens from the ledger.
UPDATE trace_sessions s SET models = (
  SELECT coalesce(jsonb_object_agg(m.key, m.value || jsonb_build_object('unpriced_tokens', coalesce(x.tokens, 0))), '{}'::jsonb)
  FROM jsonb_each(s.models) m
  LEFT JOIN (
    SELECT coalesce(model, '(unknown)') AS model,
           sum(input_tokens + output_tokens + cached_input_tokens + reasoning_tokens) AS tokens
    FROM applied_events
    WHERE tenant_id = s.tenant_id AND session_id = s.session_id AND type = 'llm.usage' AND voided_by IS NULL AND cost IS NULL
    GROUP BY 1
  ) x ON x.model = m.key
)
WHERE s.models <> '{}'::jsonb;
