-- Per-model usage is capped at 100 models per session (MAX_MODELS_PER_SESSION in
-- packages/core/src/fold.ts): the 100 smallest model names (byte order) are kept, the usage of the
-- others is summed under '(other models)'. Keeping the smallest names makes the cap
-- order-independent, so merging capped values gives the cap of the merge. Mirrors mergeModels.
CREATE OR REPLACE FUNCTION tl_merge_models(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  WITH merged AS (
    SELECT k,
      coalesce((a -> k ->> 'input')::numeric, 0)           + coalesce((b -> k ->> 'input')::numeric, 0)           AS input,
      coalesce((a -> k ->> 'output')::numeric, 0)          + coalesce((b -> k ->> 'output')::numeric, 0)          AS output,
      coalesce((a -> k ->> 'cached')::numeric, 0)          + coalesce((b -> k ->> 'cached')::numeric, 0)          AS cached,
      coalesce((a -> k ->> 'reasoning')::numeric, 0)       + coalesce((b -> k ->> 'reasoning')::numeric, 0)       AS reasoning,
      coalesce((a -> k ->> 'cost')::numeric, 0)            + coalesce((b -> k ->> 'cost')::numeric, 0)            AS cost,
      coalesce((a -> k ->> 'events')::numeric, 0)          + coalesce((b -> k ->> 'events')::numeric, 0)          AS events,
      coalesce((a -> k ->> 'unpriced')::numeric, 0)        + coalesce((b -> k ->> 'unpriced')::numeric, 0)        AS unpriced,
      coalesce((a -> k ->> 'unpriced_tokens')::numeric, 0) + coalesce((b -> k ->> 'unpriced_tokens')::numeric, 0) AS unpriced_tokens,
      CASE WHEN k = '(other models)' THEN NULL
           ELSE row_number() OVER (PARTITION BY k = '(other models)' ORDER BY k COLLATE "C") END AS rank
    FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) AS keys(k)
  ), capped AS (
    SELECT CASE WHEN rank IS NULL OR rank > 100 THEN '(other models)' ELSE k END AS k,
      sum(input) AS input, sum(output) AS output, sum(cached) AS cached, sum(reasoning) AS reasoning, sum(cost) AS cost,
      sum(events) AS events, sum(unpriced) AS unpriced, sum(unpriced_tokens) AS unpriced_tokens
    FROM merged GROUP BY 1
  )
  SELECT coalesce(jsonb_object_agg(k, jsonb_build_object(
    'input', input, 'output', output, 'cached', cached, 'reasoning', reasoning, 'cost', cost::text,
    'events', events, 'unpriced', unpriced, 'unpriced_tokens', unpriced_tokens)), '{}'::jsonb)
  FROM capped
$$;

-- Rows stored before the cap get it now (merging with nothing applies it).
UPDATE trace_sessions SET models = tl_merge_models(models, '{}'::jsonb)
WHERE (SELECT count(*) FROM jsonb_object_keys(models)) > 100;
