/**
 * OpenTelemetry GenAI spans → contract v1 events (docs/otel.md). Pure: no I/O. Ingest decodes
 * OTLP into OtlpSpan, plans each span here, and sends the planned events through the same contract
 * checks as `POST /v1/events`.
 */

/** An attribute value as read from OTLP (lists and maps arrive as JSON text). */
export type OtlpAttr = string | number | bigint | boolean | null;

export interface OtlpSpan {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  parentSpanId: string | null;
  name: string;
  startNanos: bigint;
  endNanos: bigint;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: 0 | 1 | 2;
  statusMessage: string;
  attributes: ReadonlyMap<string, OtlpAttr>;
  resource: ReadonlyMap<string, OtlpAttr>;
}

/** How a span's usage attributes count (docs/otel.md, "Usage is counted once"). */
export type UsageKind =
  /** A model call: its usage counts. */
  | 'model'
  /** An agent, workflow or other span carrying usage: counts only while no descendant in the trace carries usage. */
  | 'aggregate';

export interface SpanPlan {
  span: OtlpSpan;
  /** False for a span with no GenAI attribute: ignored (no events), but kept in the trace's tree. */
  genAi: boolean;
  sessionId: string;
  usage: UsageKind | null;
  /** Contract v1 events as JSON, exactly as a producer would post them to /v1/events. */
  events: Record<string, unknown>[];
}

/** Operations whose spans are model calls (gen_ai.operation.name). */
const MODEL_OPERATIONS = new Set(['chat', 'text_completion', 'generate_content', 'embeddings']);
/** Operations whose spans stand for an agent or a workflow: their end closes a session when they are a trace's root. */
const AGENT_OPERATIONS = new Set(['invoke_agent', 'invoke_workflow', 'create_agent']);
/** Reported-cost attributes accepted, first found wins (a decimal string or a number, in the price book's currency). */
export const COST_ATTRIBUTES = ['gen_ai.usage.cost', 'traceledger.cost'] as const;
/** Resource (or span) attribute naming the team. */
export const TEAM_ATTRIBUTE = 'traceledger.team.id';

/** The event id of a span's usage event; a void of it has this id plus `:void`. */
export function usageEventId(traceId: string, spanId: string): string {
  return `otel:${traceId}:${spanId}:usage`;
}

function str(v: OtlpAttr | undefined): string | null {
  if (typeof v === 'string') return v === '' ? null : v;
  if (typeof v === 'bigint' || typeof v === 'number') return String(v);
  return null;
}

/**
 * A token count attribute: a whole number (an int, a whole double, a digit string) as a bigint; any
 * other value is kept as it came, so the contract refuses the span naming the field
 * (TL_EVENT_BAD_TOKENS) rather than the count being read as zero.
 */
function tokens(v: OtlpAttr | undefined): OtlpAttr {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  return v;
}

/** A count as JSON: bigints as numbers (the contract bounds counts at 10^12), anything else as it came. */
const jsonCount = (v: OtlpAttr): unknown => (typeof v === 'bigint' ? Number(v) : v);

/**
 * A reported cost: a decimal string is kept exactly; a double, which cannot hold a decimal exactly,
 * is written with the contract's 9 decimals (0.1 + 0.2 reported as 0.30000000000000004 bills
 * 0.3); anything else is kept for the contract to refuse.
 */
function costOf(v: OtlpAttr): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v.toFixed(9).replace(/\.?0+$/, '');
  return v;
}

function iso(nanos: bigint): string {
  return new Date(Number(nanos / 1_000_000n)).toISOString();
}

function isGenAi(span: OtlpSpan): boolean {
  for (const key of span.attributes.keys()) if (key.startsWith('gen_ai.')) return true;
  return false;
}

/**
 * Plans every span of one export request. Session and agent are inherited from the nearest
 * ancestor in the same request that names one (spans of one trace usually travel together);
 * fallbacks are documented in docs/otel.md.
 */
export function planSpans(spans: readonly OtlpSpan[]): SpanPlan[] {
  const byId = new Map(spans.map((s) => [`${s.traceId}:${s.spanId}`, s]));
  const parentOf = (s: OtlpSpan): OtlpSpan | undefined => (s.parentSpanId === null ? undefined : byId.get(`${s.traceId}:${s.parentSpanId}`));
  /** The first value `pick` finds on the span or its ancestors in this request. */
  const inherited = (s: OtlpSpan, pick: (x: OtlpSpan) => string | null): string | null => {
    const seen = new Set<OtlpSpan>();
    for (let x: OtlpSpan | undefined = s; x !== undefined && !seen.has(x); x = parentOf(x)) {
      seen.add(x);
      const v = pick(x);
      if (v !== null) return v;
    }
    return null;
  };

  return spans.map((span): SpanPlan => {
    const a = span.attributes;
    const sessionId =
      inherited(span, (x) => str(x.attributes.get('gen_ai.conversation.id'))) ??
      inherited(span, (x) => str(x.attributes.get('session.id')) ?? str(x.resource.get('session.id'))) ??
      span.traceId;
    if (!isGenAi(span)) return { span, genAi: false, sessionId, usage: null, events: [] };

    const agentId =
      inherited(span, (x) => str(x.attributes.get('gen_ai.agent.id')) ?? str(x.attributes.get('gen_ai.agent.name'))) ?? str(span.resource.get('service.name')) ?? 'unknown_agent';
    const teamId = str(a.get(TEAM_ATTRIBUTE)) ?? str(span.resource.get(TEAM_ATTRIBUTE));
    const base = { session_id: sessionId, agent_id: agentId, ...(teamId === null ? {} : { team_id: teamId }) };
    const operation = str(a.get('gen_ai.operation.name'));
    const toolName = str(a.get('gen_ai.tool.name'));
    const isTool = operation === 'execute_tool' || (operation === null && toolName !== null);
    const isAgent = operation !== null && AGENT_OPERATIONS.has(operation);
    const model = str(a.get('gen_ai.response.model')) ?? str(a.get('gen_ai.request.model'));
    const events: Record<string, unknown>[] = [];
    const prefix = `otel:${span.traceId}:${span.spanId}`;

    // The root span of an agent opens and closes its session.
    const closes = isAgent && span.parentSpanId === null;
    if (closes) events.push({ ...base, event_id: `${prefix}:start`, type: 'session.started', occurred_at: iso(span.startNanos) });

    let usage: UsageKind | null = null;
    const input = tokens(a.get('gen_ai.usage.input_tokens'));
    const output = tokens(a.get('gen_ai.usage.output_tokens'));
    const cached = tokens(a.get('gen_ai.usage.cache_read.input_tokens'));
    const reasoning = tokens(a.get('gen_ai.usage.reasoning.output_tokens'));
    const costAttr = COST_ATTRIBUTES.map((k) => a.get(k)).find((v) => v !== undefined && v !== null);
    if (input !== null || output !== null || cached !== null || reasoning !== null || costAttr !== undefined) {
      usage = (operation !== null && MODEL_OPERATIONS.has(operation)) || (operation === null && !isTool && model !== null) ? 'model' : 'aggregate';
      const provider = str(a.get('gen_ai.provider.name')) ?? str(a.get('gen_ai.system'));
      const counts = [input, output, cached, reasoning];
      let tokenFields: Record<string, unknown>;
      if (counts.every((x) => x === null || (typeof x === 'bigint' && x >= 0n))) {
        // OpenTelemetry counts cached input inside input_tokens and reasoning inside output_tokens;
        // the contract counts each kind apart, so each is taken out once (never below zero).
        const [i, o, c, r] = counts.map((x) => (x as bigint | null) ?? 0n) as [bigint, bigint, bigint, bigint];
        tokenFields = {
          input_tokens: Number(i > c ? i - c : 0n),
          output_tokens: Number(o > r ? o - r : 0n),
          ...(c > 0n ? { cached_input_tokens: Number(c) } : {}),
          ...(r > 0n ? { reasoning_tokens: Number(r) } : {}),
        };
      } else {
        // A count that is not a whole number ≥ 0 goes to the contract as it came, which refuses it.
        tokenFields = Object.fromEntries(
          (['input_tokens', 'output_tokens', 'cached_input_tokens', 'reasoning_tokens'] as const).flatMap((f, k) => (counts[k] === null ? [] : [[f, jsonCount(counts[k] as OtlpAttr)]])),
        );
      }
      events.push({
        ...base,
        event_id: usageEventId(span.traceId, span.spanId),
        type: 'llm.usage',
        occurred_at: iso(span.endNanos > 0n ? span.endNanos : span.startNanos),
        ...(provider === null ? {} : { provider }),
        ...(model === null ? {} : { model }),
        ...tokenFields,
        ...(costAttr === undefined ? {} : { cost: costOf(costAttr) }),
      });
    }
    if (isTool) {
      const durationMs = span.endNanos > span.startNanos ? Number((span.endNanos - span.startNanos) / 1_000_000n) : 0;
      events.push({ ...base, event_id: `${prefix}:tool`, type: 'tool.call', occurred_at: iso(span.startNanos), tool_name: toolName ?? span.name, duration_ms: durationMs });
    }
    if (closes) {
      const error = span.statusCode === 2;
      events.push({
        ...base,
        event_id: `${prefix}:end`,
        type: 'session.ended',
        occurred_at: iso(span.endNanos > 0n ? span.endNanos : span.startNanos),
        status: error ? 'error' : 'success',
        ...(error && span.statusMessage !== '' ? { error: span.statusMessage.slice(0, 2000) } : {}),
      });
    }
    return { span, genAi: true, sessionId, usage, events };
  });
}

/** A recorded span of a trace, as the ingest keeps them to apply the usage rule across requests. */
export interface TraceSpan {
  spanId: string;
  parentSpanId: string | null;
  sessionId: string;
  usage: UsageKind | null;
}

/**
 * The aggregate spans of one trace whose usage must not count: those with a descendant (through
 * the recorded parent links) that carries usage of any kind. Their usage events are voided.
 */
export function overcountedAggregates(spans: readonly TraceSpan[]): TraceSpan[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const covered = new Set<string>();
  for (const s of spans) {
    if (s.usage === null) continue;
    // Every ancestor of a span with usage is covered by it.
    const seen = new Set<string>([s.spanId]);
    for (let p = s.parentSpanId; p !== null && !seen.has(p); ) {
      seen.add(p);
      covered.add(p);
      p = byId.get(p)?.parentSpanId ?? null;
    }
  }
  return spans.filter((s) => s.usage === 'aggregate' && covered.has(s.spanId));
}
