import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { overcountedAggregates, planSpans, type OtlpAttr, type OtlpSpan, type TraceSpan } from './otel.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const T0 = 1_790_000_000_000_000_000n;

function span(spanId: string, parentSpanId: string | null, attributes: Record<string, OtlpAttr>, resource: Record<string, OtlpAttr> = { 'service.name': 'svc' }, extra: Partial<OtlpSpan> = {}): OtlpSpan {
  return {
    traceId: TRACE,
    spanId,
    parentSpanId,
    name: spanId,
    startNanos: T0,
    endNanos: T0 + 2_500_000_000n,
    statusCode: 0,
    statusMessage: '',
    attributes: new Map(Object.entries(attributes)),
    resource: new Map(Object.entries(resource)),
    ...extra,
  };
}

describe('planSpans: GenAI spans to contract events (docs/otel.md)', () => {
  it('takes cached input out of input_tokens and reasoning out of output_tokens, never below zero', () => {
    const [plan] = planSpans([
      span('a1', null, { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'm', 'gen_ai.usage.input_tokens': 100n, 'gen_ai.usage.cache_read.input_tokens': 30n, 'gen_ai.usage.output_tokens': 20n, 'gen_ai.usage.reasoning.output_tokens': 5n }),
    ]);
    expect(plan?.usage).toBe('model');
    expect(plan?.events).toEqual([
      expect.objectContaining({ type: 'llm.usage', event_id: `otel:${TRACE}:a1:usage`, input_tokens: 70, cached_input_tokens: 30, output_tokens: 15, reasoning_tokens: 5, model: 'm' }),
    ]);
    const [clamped] = planSpans([span('a2', null, { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 10n, 'gen_ai.usage.cache_read.input_tokens': 30n })]);
    expect(clamped?.events[0]).toMatchObject({ input_tokens: 0, cached_input_tokens: 30 });
  });

  it('passes a token count that is not a whole number >= 0 to the contract as it came, and writes a double cost with 9 decimals', () => {
    const [neg, frac, cost] = planSpans([
      span('c1', null, { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': -5n, 'gen_ai.usage.output_tokens': 3n }),
      span('c2', null, { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.output_tokens': 1.5 }),
      span('c3', null, { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 1n, 'gen_ai.usage.cost': 0.1 + 0.2 }),
    ]);
    expect(neg?.events[0]).toMatchObject({ input_tokens: -5, output_tokens: 3 });
    expect(frac?.events[0]).toMatchObject({ output_tokens: 1.5 });
    expect(cost?.events[0]).toMatchObject({ cost: '0.3' });
  });

  it('prefers the response model and the provider name, falling back to the request model and gen_ai.system', () => {
    const [a, b] = planSpans([
      span('b1', null, { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'req', 'gen_ai.response.model': 'resp', 'gen_ai.provider.name': 'p', 'gen_ai.system': 's', 'gen_ai.usage.input_tokens': 1n }),
      span('b2', null, { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'req', 'gen_ai.system': 's', 'gen_ai.usage.input_tokens': 1n }),
    ]);
    expect(a?.events[0]).toMatchObject({ model: 'resp', provider: 'p' });
    expect(b?.events[0]).toMatchObject({ model: 'req', provider: 's' });
  });

  it('names agent, team and session by the documented fallbacks, inheriting from ancestors in the request', () => {
    const plans = planSpans([
      span('root', null, { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': 'agent-7', 'gen_ai.agent.name': 'named', 'gen_ai.conversation.id': 'conv-1' }, { 'service.name': 'svc', 'traceledger.team.id': 'team-a' }),
      span('kid', 'root', { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 5n }, { 'service.name': 'svc', 'traceledger.team.id': 'team-a' }),
      span('lone', 'elsewhere', { 'gen_ai.operation.name': 'chat', 'session.id': 'sess-9', 'gen_ai.usage.input_tokens': 5n }),
      span('bare', 'elsewhere', { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 5n }),
    ]);
    expect(plans.map((p) => p.sessionId)).toEqual(['conv-1', 'conv-1', 'sess-9', TRACE]);
    expect(plans[1]?.events[0]).toMatchObject({ agent_id: 'agent-7', team_id: 'team-a', session_id: 'conv-1' });
    expect(plans[3]?.events[0]).toMatchObject({ agent_id: 'svc' });
    expect(plans[3]?.events[0]).not.toHaveProperty('team_id');
  });

  it('opens and closes the session with a root agent span, error status included; tool spans become tool.call', () => {
    const plans = planSpans([
      span('root', null, { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'a' }, undefined, { statusCode: 2, statusMessage: 'boom' }),
      span('tool', 'root', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search' }),
      span('sub', 'root', { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'b' }),
    ]);
    expect(plans[0]?.events.map((e) => e['type'])).toEqual(['session.started', 'session.ended']);
    expect(plans[0]?.events[1]).toMatchObject({ status: 'error', error: 'boom' });
    expect(plans[1]?.events).toEqual([expect.objectContaining({ type: 'tool.call', tool_name: 'search', duration_ms: 2500 })]);
    // A nested agent span neither opens nor closes the session.
    expect(plans[2]?.events).toEqual([]);
  });

  it('ignores spans without gen_ai.* attributes, and calls usage on agent, workflow and tool spans an aggregate', () => {
    const plans = planSpans([
      span('http', null, { 'http.request.method': 'GET' }),
      span('agent', null, { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.usage.input_tokens': 9n }),
      span('flow', null, { 'gen_ai.operation.name': 'invoke_workflow', 'gen_ai.usage.output_tokens': 9n }),
      span('model', null, { 'gen_ai.request.model': 'm', 'gen_ai.usage.output_tokens': 9n }),
      span('cost', null, { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.usage.cost': '0.5' }),
    ]);
    expect(plans.map((p) => [p.genAi, p.usage])).toEqual([
      [false, null],
      [true, 'aggregate'],
      [true, 'aggregate'],
      [true, 'model'],
      [true, 'aggregate'],
    ]);
    expect(plans[4]?.events.find((e) => e['type'] === 'llm.usage')).toMatchObject({ cost: '0.5' });
  });
});

describe('overcountedAggregates: usage counts once per trace', () => {
  it('voids an aggregate with a usage-carrying descendant, through spans that carry none', () => {
    const spans: TraceSpan[] = [
      { spanId: 'root', parentSpanId: null, sessionId: 's', usage: 'aggregate' },
      { spanId: 'chain', parentSpanId: 'root', sessionId: 's', usage: null },
      { spanId: 'model', parentSpanId: 'chain', sessionId: 's', usage: 'model' },
      { spanId: 'alone', parentSpanId: null, sessionId: 's', usage: 'aggregate' },
    ];
    expect(overcountedAggregates(spans).map((s) => s.spanId)).toEqual(['root']);
  });

  it('for any tree, voids exactly the aggregates with a usage-carrying descendant (against a brute-force walk)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.constantFrom<TraceSpan['usage']>(null, 'model', 'aggregate')), { minLength: 1, maxLength: 30 }),
        (shape) => {
          // Span i's parent is an earlier span (or none): a forest.
          const spans: TraceSpan[] = shape.map(([p, usage], i) => ({ spanId: `s${i}`, parentSpanId: i === 0 || p % 4 === 0 ? null : `s${p % i}`, sessionId: 'x', usage }));
          const descendantsHaveUsage = (id: string): boolean => spans.some((c) => c.parentSpanId === id && (c.usage !== null || descendantsHaveUsage(c.spanId)));
          const expected = spans.filter((s) => s.usage === 'aggregate' && descendantsHaveUsage(s.spanId)).map((s) => s.spanId);
          expect(overcountedAggregates(spans).map((s) => s.spanId)).toEqual(expected);
        },
      ),
    );
  });
});
