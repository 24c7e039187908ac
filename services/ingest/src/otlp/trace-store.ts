import { overcountedAggregates, stringBreach, usageEventId, type SpanPlan, type TraceSpan, type UsageKind } from '@traceledger/contract';
import { inTransaction, type Pool } from '@traceledger/db';

/**
 * The shape of each trace seen through OTLP (`otel_spans`, migration 0013), kept so that the rule
 * "an aggregate span's usage counts only while no descendant carries usage" holds whatever the
 * order and grouping of a trace's spans across requests. Each request, under a lock per trace:
 * record its spans, re-apply the rule to everything recorded for those traces, and publish the
 * request's events with a void for every aggregate found covered — before the lock is released,
 * so two requests of one trace cannot miss each other's spans. A void before its target, and a
 * repeated void, are both handled by the ledger (docs/contract.md), so publishing is idempotent.
 */
export class TraceStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Records `plans` of `tenantId` and calls `publish` with the voids the rule now calls for, inside
   * the transaction; commits only if `publish` resolved (a failed publish leaves nothing recorded,
   * and the exporter's retry starts over).
   */
  async record<T>(tenantId: string, plans: readonly SpanPlan[], publish: (voids: Record<string, unknown>[]) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, async (client) => {
      const traces = [...new Set(plans.map((p) => p.span.traceId))].sort();
      // One lock per trace, in ascending order (no deadlock between two requests of the same traces).
      for (const t of traces) await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7))', [`${tenantId}:${t}`]);
      await client.query(
        `INSERT INTO otel_spans (tenant_id, trace_id, span_id, parent_span_id, session_id, usage)
         SELECT $1, t, s, p, sess, u FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS x(t, s, p, sess, u)
         ON CONFLICT (tenant_id, trace_id, span_id) DO NOTHING`,
        [
          tenantId,
          plans.map((p) => p.span.traceId),
          plans.map((p) => p.span.spanId),
          plans.map((p) => p.span.parentSpanId),
          // A session id the contract refuses (its span was rejected for it) is kept as the trace id:
          // the tree only needs a storable value, and no event of that span was published.
          plans.map((p) => (stringBreach('session_id', p.sessionId) === null ? p.sessionId : p.span.traceId)),
          plans.map((p) => p.usage),
        ],
      );
      const { rows } = await client.query<{ trace_id: string; span_id: string; parent_span_id: string | null; session_id: string; usage: UsageKind | null }>(
        'SELECT trace_id, span_id, parent_span_id, session_id, usage FROM otel_spans WHERE tenant_id = $1 AND trace_id = ANY($2::text[])',
        [tenantId, traces],
      );
      const byTrace = new Map<string, TraceSpan[]>();
      for (const r of rows) {
        const list = byTrace.get(r.trace_id) ?? [];
        list.push({ spanId: r.span_id, parentSpanId: r.parent_span_id, sessionId: r.session_id, usage: r.usage });
        byTrace.set(r.trace_id, list);
      }
      const voids: Record<string, unknown>[] = [];
      for (const [traceId, spans] of byTrace) {
        for (const s of overcountedAggregates(spans)) {
          const target = usageEventId(traceId, s.spanId);
          voids.push({
            event_id: `${target}:void`,
            type: 'event.voided',
            session_id: s.sessionId,
            occurred_at: new Date().toISOString(),
            voids_event_id: target,
            reason: 'usage of an agent or workflow span whose descendants carry usage: counted on the descendants (docs/otel.md)',
          });
        }
      }
      return publish(voids);
    });
  }

  /** Deletes spans recorded more than `retentionMs` ago; returns how many. */
  async deleteOlderThan(retentionMs: number): Promise<number> {
    const { rowCount } = await this.pool.query("DELETE FROM otel_spans WHERE created_at < now() - $1::bigint * interval '1 millisecond'", [retentionMs]);
    return rowCount ?? 0;
  }
}
