import { describe, expect, it } from 'vitest';
import { DEFAULT_TENANT } from '@traceledger/core';
import { fixedTenant } from '@traceledger/auth';
import { buildIngestApp } from '@traceledger/ingest';
import { startPipeline } from './helpers/pipeline.js';
import { topicReader } from './helpers/topic.js';
import { testLogger, uid } from './helpers/world.js';

// The catalogue of bad input (docs/bad-input.md): each case below is one row there, with the
// answer it gets. Everything goes through the whole pipeline (ingest -> real Kafka -> consumer ->
// Postgres); the last test checks that exactly the events answered as accepted were stored.

const p = await startPipeline();
const topic = await topicReader(p.kafka, p.topic, p.codec);
/** Event ids the answers reported as accepted (2xx). */
const acceptedIds = new Set<string>();
const AT = new Date(Date.now() - 60_000).toISOString();
const good = (id = `good-${uid()}`) => ({ event_id: id, session_id: `s-${id}`, agent_id: 'agent', type: 'session.started', occurred_at: AT });
const usage = (over: Record<string, unknown>) => ({ ...good(`u-${uid()}`), type: 'llm.usage', ...over });
const tool = (over: Record<string, unknown>) => ({ ...good(`t-${uid()}`), type: 'tool.call', ...over });
const ended = (over: Record<string, unknown>) => ({ ...good(`e-${uid()}`), type: 'session.ended', status: 'error', ...over });
const voided = (over: Record<string, unknown>) => ({ ...good(`v-${uid()}`), type: 'event.voided', voids_event_id: 'nothing-yet', ...over });

interface Answer {
  statusCode: number;
  body: string;
  json(): { code?: string; results?: { status: string; eventId: string | null; code?: string; field?: string; message?: string }[]; eventIds?: string[] };
}

async function send(url: string, payload: string | Buffer | object, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await p.ingest.inject({
    method: 'POST',
    url,
    headers: typeof payload === 'object' && !Buffer.isBuffer(payload) ? headers : { 'content-type': 'application/json', ...headers },
    payload: payload as string,
  });
  if (res.statusCode < 300) {
    const body = res.json() as ReturnType<Answer['json']>;
    for (const r of body.results ?? []) if (r.status === 'accepted' && r.eventId !== null) acceptedIds.add(r.eventId);
    for (const e of body.eventIds ?? []) acceptedIds.add(e);
  }
  return res;
}

interface BodyCase {
  name: string;
  payload: string | Buffer | object;
  headers?: Record<string, string>;
  status: number;
  code: string;
}

const bodyCases: BodyCase[] = [
  { name: 'malformed JSON (cut short)', payload: '{"events": [', status: 400, code: 'TL_INGEST_BAD_JSON' },
  { name: 'trailing garbage after the JSON', payload: `${JSON.stringify({ events: [good()] })} x`, status: 400, code: 'TL_INGEST_BAD_JSON' },
  { name: 'JSON with a comment', payload: `{"events": [/* one */ ${JSON.stringify(good())}]}`, status: 400, code: 'TL_INGEST_BAD_JSON' },
  { name: 'NaN, Infinity and single quotes', payload: "{'events': [{\"input_tokens\": NaN}]}", status: 400, code: 'TL_INGEST_BAD_JSON' },
  { name: 'an empty body', payload: '', status: 400, code: 'TL_INGEST_EMPTY_BODY' },
  { name: 'a JSON array as the body', payload: JSON.stringify([good()]), status: 400, code: 'TL_INGEST_BAD_REQUEST' },
  { name: 'a JSON string as the body', payload: '"events"', status: 400, code: 'TL_INGEST_BAD_REQUEST' },
  { name: 'JSON null as the body', payload: 'null', status: 400, code: 'TL_INGEST_BAD_REQUEST' },
  { name: 'no events field', payload: { event: [good()] }, status: 400, code: 'TL_INGEST_BAD_REQUEST' },
  { name: 'a second top-level field', payload: { events: [good()], tenant: 'other' }, status: 400, code: 'TL_INGEST_BAD_REQUEST' },
  { name: 'events is an object, not an array', payload: { events: good() }, status: 400, code: 'TL_INGEST_BAD_REQUEST' },
  { name: 'an empty batch', payload: { events: [] }, status: 400, code: 'TL_INGEST_BAD_REQUEST' },
  { name: 'a text/plain body', payload: JSON.stringify({ events: [good()] }), headers: { 'content-type': 'text/plain' }, status: 415, code: 'TL_INGEST_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'a form body', payload: 'events=1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'TL_INGEST_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'a __proto__ key', payload: `{"events": [{"__proto__": {"admin": true}, "event_id": "p"}]}`, status: 400, code: 'TL_INGEST_BAD_JSON' },
  { name: 'a constructor.prototype key', payload: `{"events": [{"constructor": {"prototype": {"admin": true}}}]}`, status: 400, code: 'TL_INGEST_BAD_JSON' },
  { name: 'bytes that are not UTF-8', payload: Buffer.concat([Buffer.from('{"events": [{"event_id": "'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]), status: 400, code: 'TL_INGEST_BAD_UTF8' },
  { name: 'a body nested 500,000 arrays deep', payload: `${'['.repeat(500_000)}${']'.repeat(500_000)}`, status: 400, code: 'TL_INGEST_BAD_REQUEST' },
  { name: 'a batch of 10,001 events', payload: { events: Array.from({ length: 10_001 }, () => ({})) }, status: 413, code: 'TL_INGEST_TOO_MANY_EVENTS' },
  {
    name: 'a batch of 10,000 small events over the default 1 MiB',
    payload: { events: Array.from({ length: 10_000 }, (_, i) => good(`ten-${i}`)) },
    status: 413,
    code: 'TL_INGEST_BODY_TOO_LARGE',
  },
];

describe('bodies that are not a batch', () => {
  it.each(bodyCases)('$name: $status $code', async ({ payload, headers, status, code }) => {
    const res = await send('/v1/events', payload, headers);
    expect(res.statusCode, res.body.slice(0, 300)).toBe(status);
    expect(res.json().code).toBe(code);
  });

  it('a route or method that does not exist: 404 TL_INGEST_NOT_FOUND', async () => {
    for (const [method, url] of [['GET', '/v1/events'], ['POST', '/v2/events'], ['PUT', '/api/billing/ingest']] as const) {
      const res = await p.ingest.inject({ method, url, payload: method === 'GET' ? undefined : { events: [good()] } });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.json().code).toBe('TL_INGEST_NOT_FOUND');
    }
  });
});

interface EventCase {
  name: string;
  event: unknown;
  code: string;
  /** The field the rejection must name. */
  field?: string;
}

/** JSON text written into a case as is (numbers JSON.stringify cannot write, nesting too deep for it). */
class Raw {
  constructor(readonly text: string) {}
}
const N = (text: string) => new Raw(text);
const eventCases: EventCase[] = [
  // wrong types
  { name: 'an event that is a string', event: '{"type":"session.started"}', code: 'TL_EVENT_NOT_AN_OBJECT' },
  { name: 'an event that is null', event: null, code: 'TL_EVENT_NOT_AN_OBJECT' },
  { name: 'a numeric event_id', event: { ...good(), event_id: 42 }, code: 'TL_EVENT_BAD_ID' },
  { name: 'a null session_id', event: { ...good(), session_id: null }, code: 'TL_EVENT_MISSING_FIELD' },
  { name: 'type as an array', event: { ...good(), type: ['session.started'] }, code: 'TL_EVENT_BAD_TYPE' },
  { name: 'occurred_at as epoch milliseconds', event: { ...good(), occurred_at: Date.now() }, code: 'TL_EVENT_BAD_TIME' },
  { name: 'input_tokens as a string', event: usage({ input_tokens: '12' }), code: 'TL_EVENT_BAD_TOKENS' },
  { name: 'cost as a boolean', event: usage({ cost: true }), code: 'TL_EVENT_BAD_COST' },
  { name: 'cost in exponent notation', event: usage({ cost: '1e-3' }), code: 'TL_EVENT_BAD_COST' },
  { name: 'duration_ms as a string', event: { ...good(), type: 'tool.call', duration_ms: '840' }, code: 'TL_EVENT_BAD_DURATION' },
  { name: 'status as a number', event: { ...good(), type: 'session.ended', status: 1 }, code: 'TL_EVENT_BAD_STATUS' },
  { name: 'model as an object', event: usage({ model: { name: 'gpt' } }), code: 'TL_EVENT_BAD_TEXT' },
  { name: 'tenant_id in the body', event: { ...good(), tenant_id: 'someone-else' }, code: 'TL_EVENT_UNKNOWN_FIELD' },
  { name: 'a camelCase field', event: usage({ inputTokens: 5 }), code: 'TL_EVENT_UNKNOWN_FIELD' },
  // huge numbers
  { name: 'input_tokens over 10^12', event: usage({ input_tokens: 1_000_000_000_001 }), code: 'TL_EVENT_BAD_TOKENS' },
  { name: 'input_tokens 1e400 (Infinity once parsed)', event: usage({ input_tokens: N('1e400') }), code: 'TL_EVENT_BAD_TOKENS' },
  { name: 'input_tokens with 30 digits', event: usage({ input_tokens: N('123456789012345678901234567890') }), code: 'TL_EVENT_BAD_TOKENS' },
  { name: 'input_tokens 2^53 + 1', event: usage({ input_tokens: N('9007199254740993') }), code: 'TL_EVENT_BAD_TOKENS' },
  { name: 'fractional output_tokens', event: usage({ output_tokens: 1.5 }), code: 'TL_EVENT_BAD_TOKENS' },
  { name: 'cost 1e308', event: usage({ cost: N('1e308') }), code: 'TL_EVENT_BAD_COST' },
  { name: 'cost just over 1,000,000', event: usage({ cost: '1000000.000000001' }), code: 'TL_EVENT_BAD_COST' },
  { name: 'cost with 10 decimals', event: usage({ cost: '0.0000000001' }), code: 'TL_EVENT_BAD_COST' },
  { name: 'a negative cost', event: usage({ cost: -0.01 }), code: 'TL_EVENT_BAD_COST' },
  { name: 'duration_ms 1e20', event: { ...good(), type: 'tool.call', duration_ms: N('1e20') }, code: 'TL_EVENT_BAD_DURATION' },
  // unicode and control characters in ids
  { name: 'a NUL in event_id', event: good('nul\u0000id'), code: 'TL_EVENT_BAD_ID', field: 'event_id' },
  { name: 'a newline in session_id', event: { ...good(), session_id: 'line\nbreak' }, code: 'TL_EVENT_BAD_ID', field: 'session_id' },
  { name: 'a NUL in session_id', event: { ...good(), session_id: 's\u0000' }, code: 'TL_EVENT_BAD_ID', field: 'session_id' },
  { name: 'DEL in agent_id', event: { ...good(), agent_id: 'del\u007f' }, code: 'TL_EVENT_BAD_ID', field: 'agent_id' },
  { name: 'a lone surrogate in agent_id', event: { ...good(), agent_id: 'a\ud800' }, code: 'TL_EVENT_BAD_ID', field: 'agent_id' },
  { name: 'a C1 control (U+0085) in team_id', event: { ...good(), team_id: 'nel\u0085' }, code: 'TL_EVENT_BAD_ID', field: 'team_id' },
  { name: 'a NUL in team_id', event: { ...good(), team_id: '\u0000' }, code: 'TL_EVENT_BAD_ID', field: 'team_id' },
  { name: 'a lone high surrogate', event: good('lone\ud800'), code: 'TL_EVENT_BAD_ID', field: 'event_id' },
  { name: 'a lone low surrogate', event: good('\udc00lone'), code: 'TL_EVENT_BAD_ID', field: 'event_id' },
  { name: 'a NUL in voids_event_id', event: voided({ voids_event_id: 'v\u0000' }), code: 'TL_EVENT_BAD_ID', field: 'voids_event_id' },
  { name: 'a lone surrogate in voids_event_id', event: voided({ voids_event_id: '\udfffv' }), code: 'TL_EVENT_BAD_ID', field: 'voids_event_id' },
  { name: 'leading spaces', event: good(' padded'), code: 'TL_EVENT_BAD_ID', field: 'event_id' },
  { name: 'an empty id', event: good(''), code: 'TL_EVENT_BAD_ID', field: 'event_id' },
  { name: '129 characters', event: good('x'.repeat(129)), code: 'TL_EVENT_BAD_ID', field: 'event_id' },
  { name: '129 emoji (129 characters, 258 UTF-16 units)', event: good('😀'.repeat(129)), code: 'TL_EVENT_BAD_ID', field: 'event_id' },
  // names (provider, model, tool_name): no control character; free text (error, reason): tab, LF and CR only
  { name: 'a NUL in provider', event: usage({ provider: 'open\u0000ai' }), code: 'TL_EVENT_BAD_TEXT', field: 'provider' },
  { name: 'BEL in provider', event: usage({ provider: 'openai\u0007' }), code: 'TL_EVENT_BAD_TEXT', field: 'provider' },
  { name: 'a NUL in model', event: usage({ model: '\u0000' }), code: 'TL_EVENT_BAD_TEXT', field: 'model' },
  { name: 'a lone surrogate in model (Avro would turn it into U+FFFD, jsonb refuses it)', event: usage({ model: '\ud800' }), code: 'TL_EVENT_BAD_TEXT', field: 'model' },
  { name: 'a tab in model', event: usage({ model: 'gpt\t4o' }), code: 'TL_EVENT_BAD_TEXT', field: 'model' },
  { name: 'a C1 control (U+0085) in model', event: usage({ model: 'gpt\u0085' }), code: 'TL_EVENT_BAD_TEXT', field: 'model' },
  { name: 'a model of 129 emoji', event: usage({ model: '😀'.repeat(129) }), code: 'TL_EVENT_BAD_TEXT', field: 'model' },
  { name: 'a NUL in tool_name', event: tool({ tool_name: 'web\u0000' }), code: 'TL_EVENT_BAD_TEXT', field: 'tool_name' },
  { name: 'a newline in tool_name', event: tool({ tool_name: 'web\nsearch' }), code: 'TL_EVENT_BAD_TEXT', field: 'tool_name' },
  { name: 'a lone surrogate in tool_name', event: tool({ tool_name: '\udc00' }), code: 'TL_EVENT_BAD_TEXT', field: 'tool_name' },
  { name: 'a NUL in error', event: ended({ error: 'oops\u0000' }), code: 'TL_EVENT_BAD_TEXT', field: 'error' },
  { name: 'ESC (a terminal colour code) in error', event: ended({ error: '\u001b[31mfailed' }), code: 'TL_EVENT_BAD_TEXT', field: 'error' },
  { name: 'a lone surrogate in error', event: ended({ error: 'x\ud83d' }), code: 'TL_EVENT_BAD_TEXT', field: 'error' },
  { name: 'an error of 2001 characters', event: ended({ error: 'é'.repeat(2001) }), code: 'TL_EVENT_BAD_TEXT', field: 'error' },
  { name: 'a NUL in reason', event: voided({ reason: '\u0000' }), code: 'TL_EVENT_BAD_TEXT', field: 'reason' },
  { name: 'a lone surrogate in reason', event: voided({ reason: 'dup\udbff' }), code: 'TL_EVENT_BAD_TEXT', field: 'reason' },
  { name: 'DEL in reason', event: voided({ reason: 'dup\u007f' }), code: 'TL_EVENT_BAD_TEXT', field: 'reason' },
  // depth and size
  { name: 'an event nested 100,000 arrays deep', event: N(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), code: 'TL_EVENT_TOO_LARGE' },
  {
    name: 'an id nested 1,000 objects deep',
    event: N(JSON.stringify({ ...good(), event_id: '@deep@' }).replace('"@deep@"', `${'{"a":'.repeat(1000)}1${'}'.repeat(1000)}`)),
    code: 'TL_EVENT_BAD_ID',
  },
  { name: 'an event over 32 KiB', event: { ...good(), error: 'e'.repeat(40_000) }, code: 'TL_EVENT_TOO_LARGE' },
];

/** JSON text of `v`, with each Raw written as its text. */
function jsonWithRaw(v: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(v, (_k, x: unknown) => {
    if (!(x instanceof Raw)) return x;
    raws.push(x.text);
    return `@raw${raws.length - 1}@`;
  });
  return text.replace(/"@raw(\d+)@"/g, (_m, i: string) => raws[Number(i)] ?? '');
}

describe('events that break the contract, next to a good one', () => {
  it.each(eventCases)('$name: 207, that event $code', async ({ event, code, field }) => {
    const ok = good();
    const res = await send('/v1/events', jsonWithRaw({ events: [ok, event] }));
    expect(res.statusCode, res.body.slice(0, 300)).toBe(207);
    const results = res.json().results ?? [];
    expect(results[0]).toEqual({ index: 0, eventId: ok.event_id, status: 'accepted' });
    expect(results[1]).toMatchObject({ index: 1, status: 'rejected', code, ...(field === undefined ? {} : { field }) });
    if (field !== undefined) expect(results[1]?.message).toMatch(new RegExp(`^${field} `));
  });

  it.each(eventCases.filter((c) => c.field !== undefined && c.code === 'TL_EVENT_BAD_TEXT'))('$name, alone: 400 TL_INGEST_ALL_REJECTED naming $field', async ({ event, code, field }) => {
    const res = await send('/v1/events', jsonWithRaw({ events: [event] }));
    expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
    expect(res.json()).toMatchObject({ code: 'TL_INGEST_ALL_REJECTED', results: [{ index: 0, status: 'rejected', code, field }] });
  });

  it('accepts the characters the contract allows in names and free text, and stores those events', async () => {
    const events = [
      usage({ provider: 'prövider-日本', model: `gpt\ufffe\uffff\ufeff\u200b-${uid()}` }),
      usage({ model: '😀'.repeat(128) }),
      tool({ tool_name: 'web.search\u202e', duration_ms: 1 }),
      ended({ error: 'line one\nline two\ttabbed\r\n' }),
      voided({ reason: '😀'.repeat(2000) }),
    ];
    const res = await send('/v1/events', { events });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(202);
    expect(res.json().results?.map((r) => r.status)).toEqual(events.map(() => 'accepted'));
  });

  it('accepts ids in any script, emoji, zero-width and bidi characters (they are not control characters)', async () => {
    const ids = [`ünïcödé-${uid()}`, `日本語のid-${uid()}`, `${'😀'.repeat(118)}${uid()}`, `zero\u200bwidth-${uid()}`, `rtl\u202eoverride-${uid()}`, `bom\ufeff-${uid()}`];
    // 128 characters, 246 UTF-16 units: the limit counts characters.
    expect([...(ids[2] ?? '')].length).toBe(128);
    const res = await send('/v1/events', { events: ids.map((id) => ({ ...good(id), session_id: 'unicode' })) });
    expect(res.statusCode).toBe(202);
    expect(res.json().results?.map((r) => r.eventId)).toEqual(ids);
  });

  it('takes the last value of a duplicated key, in an event and at the top level (JSON.parse semantics)', async () => {
    const [first, last] = [`dup-first-${uid()}`, `dup-last-${uid()}`];
    const event = `{"event_id": "${first}", "session_id": "s-dup", "agent_id": "a", "type": "session.started", "occurred_at": "${AT}", "event_id": "${last}"}`;
    const res = await send('/v1/events', `{"events": [${event}]}`);
    expect(res.statusCode).toBe(202);
    expect(res.json().results?.[0]?.eventId).toBe(last);
    const top = await send('/v1/events', `{"events": [{"type": "nope"}], "events": [${JSON.stringify(good(`dup-top-${uid()}`))}]}`);
    expect(top.statusCode).toBe(202);
  });

  it('tolerates a UTF-8 byte order mark before the JSON', async () => {
    const res = await send('/v1/events', `\ufeff${JSON.stringify({ events: [good(`bom-${uid()}`)] })}`);
    expect(res.statusCode).toBe(202);
  });

  it('accepts 10,000 events in one batch when MAX_BODY_BYTES allows it, and folds every one', async () => {
    const publisher = p.kafka.publisher();
    await publisher.connect();
    const big = buildIngestApp(
      { publisher, codec: p.codec, logger: testLogger(), pool: p.pool, auth: fixedTenant(DEFAULT_TENANT) },
      { topic: p.topic, maxBodyBytes: 4 * 1_048_576, maxBatchEvents: 10_000, retryAfterSeconds: 5 },
    );
    try {
      const run = uid();
      const events = Array.from({ length: 10_000 }, (_, i) => ({ ...good(`big-${run}-${i}`), session_id: `big-${run}-${i % 100}` }));
      const t0 = performance.now();
      const res = await big.inject({ method: 'POST', url: '/v1/events', payload: { events } });
      const ms = performance.now() - t0;
      expect(res.statusCode).toBe(202);
      expect(res.json()).toMatchObject({ accepted: 10_000, rejected: 0 });
      expect(ms).toBeLessThan(15_000);
      for (const e of events) acceptedIds.add(e.event_id);
    } finally {
      await big.close();
      await publisher.disconnect();
    }
  });

  it('accepts a full 1 MiB batch of one session (one partition), more than Kafka takes in one record batch', async () => {
    const run = uid();
    const long = (c: string) => c.repeat(128);
    const events = Array.from({ length: 1640 }, (_, i) => ({ ...good(`one-${run}-${i}`.padEnd(128, 'x')), session_id: long('o'), agent_id: long('a'), team_id: long('t') }));
    const body = JSON.stringify({ events });
    expect(body.length).toBeGreaterThan(1_000_000);
    expect(body.length).toBeLessThan(1_048_576);
    const res = await send('/v1/events', body);
    expect(res.statusCode).toBe(202);
  });
});

describe('the legacy summary endpoint', () => {
  const summary = () => ({ sessionId: `legacy-${uid()}`, agentId: 'a', startedAt: AT, status: 'success', inputTokens: 10, outputTokens: 5 });
  it.each([
    { name: 'inputTokens as a string', over: { inputTokens: '10' }, code: 'TL_INGEST_BAD_REQUEST' },
    { name: 'negative outputTokens', over: { outputTokens: -1 }, code: 'TL_INGEST_BAD_REQUEST' },
    { name: 'inputTokens 1e400', over: { inputTokens: 'RAW1e400' }, code: 'TL_INGEST_BAD_REQUEST' },
    { name: 'an unknown field', over: { tenantId: 'other' }, code: 'TL_INGEST_BAD_REQUEST' },
    { name: 'a sessionId over 128 characters', over: { sessionId: 's'.repeat(129) }, code: 'TL_INGEST_BAD_REQUEST' },
    { name: 'a control character in sessionId', over: { sessionId: 'bad\u0001id' }, code: 'TL_EVENT_BAD_ID' },
    { name: 'an unknown status', over: { status: 'done' }, code: 'TL_EVENT_BAD_STATUS' },
    { name: 'a negative cost', over: { cost: -1 }, code: 'TL_EVENT_BAD_COST' },
    { name: 'a cost of 1e308', over: { cost: 1e308 }, code: 'TL_EVENT_BAD_COST' },
    { name: 'startedAt that is not a time', over: { startedAt: 'yesterday' }, code: 'TL_EVENT_BAD_TIME' },
    { name: 'a durationMs of 8.6e15 (found by the fuzz test: was a 500)', over: { durationMs: 8_638_204_386_652_290 }, code: 'TL_EVENT_BAD_DURATION' },
  ])('$name: 400 $code', async ({ over, code }) => {
    const text = JSON.stringify({ ...summary(), ...over }).replace('"RAW1e400"', '1e400');
    const res = await send('/api/billing/ingest', text);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().code).toBe(code);
  });

  it('malformed JSON: 400 TL_INGEST_BAD_JSON', async () => {
    const res = await send('/api/billing/ingest', '{"sessionId": ');
    expect([res.statusCode, res.json().code]).toEqual([400, 'TL_INGEST_BAD_JSON']);
  });
});

describe('query parameters', () => {
  it.each([
    { url: '/api/billing/summary?period=forever', code: 'TL_QUERY_BAD_PERIOD' },
    { url: '/api/billing/summary?tz=Mars%2FOlympus', code: 'TL_QUERY_BAD_TZ' },
    { url: '/api/billing/summary?from=2026-13-45', code: 'TL_QUERY_BAD_RANGE' },
    { url: '/api/billing/summary?from=2026-02-01&to=2026-01-01', code: 'TL_QUERY_BAD_RANGE' },
    { url: '/api/analytics/agents/a/token-trends?days=0', code: 'TL_QUERY_BAD_DAYS' },
    { url: '/api/analytics/agents/a/token-trends?days=1e400', code: 'TL_QUERY_BAD_DAYS' },
    { url: '/api/analytics/usage?bucket=minute', code: 'TL_QUERY_BAD_BUCKET' },
    { url: '/api/analytics/usage?cursor=%00%ff', code: 'TL_QUERY_BAD_CURSOR' },
    { url: '/api/billing/breakdown?by=planet', code: 'TL_QUERY_BAD_BY' },
  ])('$url: 400 $code', async ({ url, code }) => {
    const res = await p.query.inject({ method: 'GET', url });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().code).toBe(code);
  });
});

describe('after all of the above', () => {
  it('stored exactly the events answered as accepted: nothing from a rejected request reached the topic or the tables', async () => {
    await topic.caughtUp();
    await p.drained(60_000);
    const onTopic = new Set(topic.eventIds());
    expect([...onTopic].filter((e) => !acceptedIds.has(e))).toEqual([]);
    expect([...acceptedIds].filter((e) => !onTopic.has(e))).toEqual([]);
    const { rows } = await p.pool.query<{ event_id: string }>('SELECT event_id FROM applied_events WHERE tenant_id = $1', [DEFAULT_TENANT]);
    expect(rows.length).toBe(acceptedIds.size);
    expect(new Set(rows.map((r) => r.event_id))).toEqual(acceptedIds);
  });
});
