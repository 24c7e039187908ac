import type { AddressInfo } from 'node:net';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpHttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { KeyStore, apiKeyAuthenticator, createApiKey } from '@traceledger/auth';
import { seededRandom } from '@traceledger/core';
import { decodeProtobufStatus } from '../services/ingest/src/otlp/decode.js';
import { rawNumber, startPipeline } from './helpers/pipeline.js';
import { uid } from './helpers/world.js';

// OpenTelemetry GenAI spans in, through the real OpenTelemetry JS SDK and its real OTLP exporters
// (JSON over HTTP, and protobuf), gzip-compressed, authenticated with an ingest key in the
// exporter's headers. A small instrumented "agent" emits nested spans whose agent spans carry the
// sum of their children's usage, as frameworks do: every token and every cent must count once,
// whatever requests the spans travel in and in whatever order, and exporting again changes nothing.

const p = await startPipeline({ auth: (pool) => apiKeyAuthenticator(new KeyStore(pool)) });
await p.ingest.listen({ port: 0, host: '127.0.0.1' });
const url = `http://127.0.0.1:${(p.ingest.server.address() as AddressInfo).port}/v1/traces`;

/**
 * Runs a small agent under `provider`: the spans of one conversation, as an instrumented framework
 * would emit them. With `everySpan`, the conversation id is on every GenAI span (as frameworks that
 * carry it in context do); without, only on the root, and the others inherit it from their
 * ancestors in the same export request (docs/otel.md).
 */
function runAgent(provider: BasicTracerProvider, conversationId: string, fails: boolean, everySpan: boolean): void {
  const tracer = provider.getTracer('agent-framework', '1.0.0');
  // Each step takes 25 ms, as real model and tool calls take time: the root starts first, so the
  // session is the root agent's (a tie at one millisecond would leave which event is earliest to chance).
  let clock = Date.now() - 60_000;
  const tick = (): number => (clock += 25);
  const child = (parent: Span, name: string, attributes: Record<string, string | number>, kind = SpanKind.INTERNAL): Span => {
    const ctx: Context = trace.setSpan(ROOT_CONTEXT, parent);
    const genAi = Object.keys(attributes).some((k) => k.startsWith('gen_ai.'));
    return tracer.startSpan(name, { kind, startTime: tick(), attributes: everySpan && genAi ? { ...attributes, 'gen_ai.conversation.id': conversationId } : attributes }, ctx);
  };
  const root = tracer.startSpan('invoke_agent planner', {
    startTime: tick(),
    attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'planner', 'gen_ai.conversation.id': conversationId, 'gen_ai.provider.name': 'openai' },
  });
  // A model call: OpenTelemetry counts the 200 cached tokens inside input_tokens and the 50
  // reasoning tokens inside output_tokens.
  const chat = child(root, 'chat gpt-4o', {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.response.model': 'gpt-4o-2024-08-06',
    'gen_ai.usage.input_tokens': 1200,
    'gen_ai.usage.output_tokens': 300,
    'gen_ai.usage.cache_read.input_tokens': 200,
    'gen_ai.usage.reasoning.output_tokens': 50,
  }, SpanKind.CLIENT);
  chat.end(tick());
  const tool = child(root, 'execute_tool search', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search' });
  tool.end(tick());
  const http = child(root, 'GET /search', { 'http.request.method': 'GET' }, SpanKind.CLIENT);
  http.end(tick());
  // A sub-agent whose span carries the sum of its child's usage and cost.
  const researcher = child(root, 'invoke_agent researcher', {
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.agent.name': 'researcher',
    'gen_ai.usage.input_tokens': 800,
    'gen_ai.usage.output_tokens': 100,
    'gen_ai.usage.cost': '0.0123',
  });
  const claude = child(researcher, 'chat claude-sonnet-4', {
    'gen_ai.operation.name': 'chat',
    'gen_ai.system': 'anthropic',
    'gen_ai.request.model': 'claude-sonnet-4-20250514',
    'gen_ai.usage.input_tokens': 800,
    'gen_ai.usage.output_tokens': 100,
    'gen_ai.usage.cost': '0.0123',
  }, SpanKind.CLIENT);
  claude.end(tick());
  researcher.end(tick());
  // The root carries the sum of everything below it.
  root.setAttributes({ 'gen_ai.usage.input_tokens': 2000, 'gen_ai.usage.output_tokens': 400 });
  if (fails) root.setStatus({ code: SpanStatusCode.ERROR, message: 'tool budget exhausted' });
  root.end(tick());
}

/** The spans of one run, captured by the SDK (exported later, in whatever grouping a test picks). */
async function captureRun(conversationId: string, fails: boolean, everySpan: boolean): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'support-bot', 'traceledger.team.id': 'team-support' }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  runAgent(provider, conversationId, fails, everySpan);
  await provider.forceFlush();
  const spans = [...memory.getFinishedSpans()];
  await provider.shutdown();
  return spans;
}

function exporters(key: string): { json: SpanExporter; proto: SpanExporter } {
  const headers = { authorization: `Bearer ${key}` };
  return {
    json: new OtlpHttpJsonExporter({ url, headers, compression: 'gzip' as never }),
    proto: new OtlpProtoExporter({ url, headers, compression: 'gzip' as never }),
  };
}

function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<void> {
  return new Promise((resolve, reject) =>
    exporter.export(spans, (result) => (result.code === 0 ? resolve() : reject(result.error ?? new Error('export failed')))),
  );
}

async function tenantWorld() {
  const tenantId = `otel-${uid()}`;
  const ingestKey = await createApiKey(p.pool, { tenantId, scopes: ['ingest'] });
  const queryKey = await createApiKey(p.pool, { tenantId, scopes: ['query'] });
  const get = async (path: string) => {
    const res = await p.query.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${queryKey.key}` } });
    expect(res.statusCode, res.body).toBe(200);
    return res.body;
  };
  return { tenantId, ingestKey, get };
}

/** What the session must hold, computed by hand from the spans above. */
const EXPECTED = {
  // gpt-4o: 1000 input + 200 cached; claude: 800. Neither agent span's sums.
  input: '1800',
  cached: '200',
  // gpt-4o: 250 output + 50 reasoning; claude: 100.
  output: '350',
  reasoning: '50',
  // gpt-4o from the price book: (1000 × 2.50 + 200 × 1.25 + 250 × 10 + 50 × 10) / 10^6 = 0.00575;
  // claude as reported: 0.0123. The researcher span's reported 0.0123 is its child's, not more.
  cost: '0.01805',
};

async function sessionRow(tenantId: string) {
  const { rows } = await p.pool.query<{ session_id: string; agent_id: string; team_id: string | null; status: string; input: string; cached: string; output: string; reasoning: string; cost: string; tools: string; events: string }>(
    `SELECT session_id, agent_id, team_id, status, input_tokens::text AS input, cached_input_tokens::text AS cached, output_tokens::text AS output,
            reasoning_tokens::text AS reasoning, trim_scale(cost)::text AS cost, tool_calls::text AS tools, event_count::text AS events
     FROM trace_sessions WHERE tenant_id = $1`,
    [tenantId],
  );
  return rows;
}

describe('OTLP/HTTP traces from the OpenTelemetry SDK', () => {
  it('counts each token and cent once, with spans in separate requests in any order, over JSON and protobuf; exporting again changes nothing', async () => {
    const w = await tenantWorld();
    const conversation = `conv-${uid()}`;
    const spans = await captureRun(conversation, false, true);
    expect(spans).toHaveLength(6);
    const { json, proto } = exporters(w.ingestKey.key);
    // One span per request, in a shuffled order, alternating the two encodings.
    const seed = Number.parseInt(uid(3), 16);
    const random = seededRandom(seed);
    const order = spans.map((s) => ({ s, k: random() })).sort((a, b) => a.k - b.k).map((x) => x.s);
    for (const [i, span] of order.entries()) await exportWith(i % 2 === 0 ? json : proto, [span]);
    await p.drained();

    const rows = await sessionRow(w.tenantId);
    expect(rows, `export order from shuffle seed ${seed}`).toEqual([
      { session_id: conversation, agent_id: 'planner', team_id: 'team-support', status: 'success', input: EXPECTED.input, cached: EXPECTED.cached, output: EXPECTED.output, reasoning: EXPECTED.reasoning, cost: EXPECTED.cost, tools: '1', events: expect.any(String) },
    ]);
    const summary = await w.get('/api/billing/summary');
    expect(rawNumber(summary, 'totalCost')).toBe(EXPECTED.cost);
    const platform = await w.get('/api/analytics/platform?period=all');
    expect(rawNumber(platform, 'totalInputTokens')).toBe(EXPECTED.input);
    expect(rawNumber(platform, 'totalOutputTokens')).toBe(EXPECTED.output);
    expect(rawNumber(platform, 'totalCost')).toBe(EXPECTED.cost);

    // An exporter's retry of everything, in one request and in the other encoding: nothing changes.
    await exportWith(proto, spans);
    await exportWith(json, [...spans].reverse());
    await p.drained();
    expect(await sessionRow(w.tenantId)).toEqual(rows);
    await Promise.all([json.shutdown(), proto.shutdown()]);
  });

  it('closes the session with the root span, its error status included; spans without a conversation id inherit their ancestor\'s within a request', async () => {
    const w = await tenantWorld();
    const conversation = `conv-${uid()}`;
    const { proto } = exporters(w.ingestKey.key);
    await exportWith(proto, await captureRun(conversation, true, false));
    await p.drained();
    const [row] = await sessionRow(w.tenantId);
    expect(row).toMatchObject({ session_id: conversation, status: 'error', input: EXPECTED.input, output: EXPECTED.output, cost: EXPECTED.cost, tools: '1' });
    await proto.shutdown();
  });

  it('answers partialSuccess naming refused and ignored spans, 401 without a key, 400 for a body that is not OTLP', async () => {
    const w = await tenantWorld();
    const body = (spans: unknown[]) => ({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] }, scopeSpans: [{ spans }] }] });
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const nowNs = `${Date.now()}000000`;
    const span = (spanId: string, attributes: unknown[]) => ({ traceId, spanId, name: 'x', startTimeUnixNano: nowNs, endTimeUnixNano: nowNs, attributes });
    const post = (payload: unknown, headers: Record<string, string> = { authorization: `Bearer ${w.ingestKey.key}` }) =>
      p.ingest.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(payload) });

    const res = await post(
      body([
        span('b7ad6b7169203331', [{ key: 'gen_ai.operation.name', value: { stringValue: 'chat' } }, { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o' } }, { key: 'gen_ai.usage.input_tokens', value: { intValue: '-5' } }]),
        span('b7ad6b7169203332', [{ key: 'http.request.method', value: { stringValue: 'GET' } }]),
        span('b7ad6b7169203333', [{ key: 'gen_ai.operation.name', value: { stringValue: 'chat' } }, { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o' } }, { key: 'gen_ai.usage.input_tokens', value: { intValue: '10' } }]),
      ]),
    );
    expect(res.statusCode, res.body).toBe(200);
    const answer = res.json() as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    // -5 tokens is refused by the contract, naming the field; the span without GenAI attributes is
    // ignored and named; the third span is taken.
    expect(answer.partialSuccess.rejectedSpans).toBe('1');
    expect(answer.partialSuccess.errorMessage).toContain('span b7ad6b7169203331');
    expect(answer.partialSuccess.errorMessage).toContain('TL_EVENT_BAD_TOKENS (input_tokens)');
    expect(answer.partialSuccess.errorMessage).toContain('1 span(s) without gen_ai.* attributes ignored');

    const bad = await post(body([span('b7ad6b7169203334', [{ key: 'gen_ai.operation.name', value: { stringValue: 'execute_tool' } }, { key: 'gen_ai.tool.name', value: { stringValue: 'bad\u0000tool' } }])]));
    expect(bad.statusCode).toBe(200);
    const refused = bad.json() as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(refused.partialSuccess.rejectedSpans).toBe('1');
    expect(refused.partialSuccess.errorMessage).toContain('TL_EVENT_BAD_TEXT (tool_name)');

    // Errors come as google.rpc.Status in the request's encoding, traceledger's code first in the message.
    const anonymous = await post(body([]), {});
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toEqual({ code: 16, message: expect.stringMatching(/^TL_AUTH_MISSING_KEY: /) });
    const notOtlp = await post({ resourceSpans: 'nope' });
    expect(notOtlp.statusCode).toBe(400);
    expect(notOtlp.json()).toEqual({ code: 3, message: expect.stringMatching(/^TL_INGEST_BAD_OTLP: resourceSpans must be a list/) });
    const garbage = await p.ingest.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${w.ingestKey.key}` }, payload: Buffer.from([0xff, 0xff, 0xff, 0x0f]) });
    expect(garbage.statusCode).toBe(400);
    expect(garbage.headers['content-type']).toBe('application/x-protobuf');
    expect(decodeProtobufStatus(garbage.rawPayload)).toEqual({ code: 3, message: expect.stringMatching(/^TL_INGEST_BAD_OTLP: /) });
  });
});
