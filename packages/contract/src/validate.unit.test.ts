import { describe, expect, it } from 'vitest';
import { EMPTY_EVENT_FIELDS } from '@traceledger/core';
import { CHARACTER_CASES, JSON_STRING_FIELDS } from './__fixtures__/strings.js';
import { EventErrorCode, EventRejectedError } from './errors.js';
import { LEGACY_EVENT_PREFIX, legacySummaryToEvents, type LegacySummary } from './legacy.js';
import { LIMITS, parseEvent, parseTime } from './validate.js';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const TENANT = `tenant-${Math.random().toString(36).slice(2, 8)}`;
const SESSION = `session-${Math.random().toString(36).slice(2, 8)}`;

const common = {
  event_id: 'evt-1',
  session_id: SESSION,
  agent_id: 'agent-7',
  team_id: 'team-2',
  occurred_at: '2026-11-25T11:59:00.250Z',
};

/** A valid JSON event of each type, with every field its type allows. */
const valid = {
  'session.started': { ...common, type: 'session.started' },
  'llm.usage': {
    ...common,
    type: 'llm.usage',
    provider: 'openai',
    model: 'gpt-4o',
    input_tokens: 1200,
    output_tokens: 300,
    cached_input_tokens: 100,
    reasoning_tokens: 50,
    cost: '0.0125',
  },
  'tool.call': { ...common, type: 'tool.call', tool_name: 'web.search', duration_ms: 840 },
  'session.ended': { ...common, type: 'session.ended', status: 'error', error: 'rate limited' },
  'event.voided': { ...common, type: 'event.voided', voids_event_id: 'evt-0', reason: 'double-billed' },
} as const;

const empty = EMPTY_EVENT_FIELDS;

function rejection(raw: unknown): EventRejectedError {
  try {
    parseEvent(raw, TENANT, NOW);
  } catch (err) {
    expect(err).toBeInstanceOf(EventRejectedError);
    return err as EventRejectedError;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be rejected`);
}

describe('parseEvent accepts', () => {
  const base = { eventId: 'evt-1', tenantId: TENANT, sessionId: SESSION, agentId: 'agent-7', teamId: 'team-2', occurredAtMs: Date.parse(common.occurred_at) };

  it('session.started', () => {
    expect(parseEvent(valid['session.started'], TENANT, NOW)).toEqual({ ...empty, ...base, type: 'session.started' });
  });

  it('llm.usage, with the cost in exact nano-units', () => {
    expect(parseEvent(valid['llm.usage'], TENANT, NOW)).toEqual({
      ...empty,
      ...base,
      type: 'llm.usage',
      provider: 'openai',
      model: 'gpt-4o',
      inputTokens: 1200,
      outputTokens: 300,
      cachedInputTokens: 100,
      reasoningTokens: 50,
      costNanos: 12_500_000n,
    });
    expect(parseEvent({ ...valid['llm.usage'], cost: 1e-7 }, TENANT, NOW).costNanos).toBe(100n);
    expect(parseEvent({ ...valid['llm.usage'], cost: 3.83 }, TENANT, NOW).costNanos).toBe(3_830_000_000n);
    expect(parseEvent({ ...valid['llm.usage'], cost: '0.000000001' }, TENANT, NOW).costNanos).toBe(1n);
    expect(parseEvent({ ...valid['llm.usage'], cost: '1000000' }, TENANT, NOW).costNanos).toBe(10n ** 15n);
  });

  it('llm.usage without tokens or cost: zeros and no reported cost', () => {
    const e = parseEvent({ ...common, type: 'llm.usage' }, TENANT, NOW);
    expect(e).toMatchObject({ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, reasoningTokens: 0, costNanos: null });
  });

  it('tool.call', () => {
    expect(parseEvent(valid['tool.call'], TENANT, NOW)).toEqual({ ...empty, ...base, type: 'tool.call', toolName: 'web.search', durationMs: 840 });
  });

  it('session.ended with each end status', () => {
    expect(parseEvent(valid['session.ended'], TENANT, NOW)).toEqual({ ...empty, ...base, type: 'session.ended', status: 'error', error: 'rate limited' });
    for (const status of ['success', 'error', 'timeout', 'cancelled']) {
      expect(parseEvent({ ...valid['session.ended'], status }, TENANT, NOW).status).toBe(status);
    }
  });

  it('event.voided, which needs no agent', () => {
    expect(parseEvent(valid['event.voided'], TENANT, NOW)).toEqual({ ...empty, ...base, type: 'event.voided', voidsEventId: 'evt-0', reason: 'double-billed' });
    const { agent_id: _agent, team_id: _team, ...noAgent } = valid['event.voided'];
    expect(parseEvent(noAgent, TENANT, NOW)).toMatchObject({ agentId: null, teamId: null, voidsEventId: 'evt-0' });
  });

  it('the tenant from the credentials, never from the body', () => {
    expect(parseEvent(valid['tool.call'], 'tenant-from-key', NOW).tenantId).toBe('tenant-from-key');
  });

  it('null for a field of another type, and for optional fields', () => {
    const e = parseEvent({ ...valid['session.started'], status: null, cost: null, team_id: null }, TENANT, NOW);
    expect(e).toMatchObject({ status: null, costNanos: null, teamId: null });
  });

  it('timestamps with offsets and nanosecond fractions, up to 24 hours ahead', () => {
    expect(parseEvent({ ...common, type: 'session.started', occurred_at: '2026-11-25T13:00:00+01:00' }, TENANT, NOW).occurredAtMs).toBe(NOW);
    expect(parseEvent({ ...common, type: 'session.started', occurred_at: '2026-11-25T12:00:00.123456789Z' }, TENANT, NOW).occurredAtMs).toBe(NOW + 123);
    expect(parseEvent({ ...common, type: 'session.started', occurred_at: '2026-11-26T12:00:00Z' }, TENANT, NOW).occurredAtMs).toBe(NOW + LIMITS.maxFutureMs);
    expect(parseEvent({ ...common, type: 'session.started', occurred_at: '2024-02-29T00:00:00Z' }, TENANT, NOW).occurredAtMs).toBe(Date.UTC(2024, 1, 29));
  });

  it('ids of up to 128 characters, with any printable unicode', () => {
    expect(parseEvent({ ...common, type: 'session.started', event_id: 'x'.repeat(128) }, TENANT, NOW).eventId).toHaveLength(128);
    expect(parseEvent({ ...common, type: 'session.started', event_id: 'évt-\u{1f600}-ｱ' }, TENANT, NOW).eventId).toBe('évt-\u{1f600}-ｱ');
  });
});

interface Case {
  name: string;
  raw: unknown;
  code: EventErrorCode;
  field: string | undefined;
}

const usage = valid['llm.usage'];
const cases: Case[] = [
  // TooLarge, checked first
  { name: 'an event over 32 KiB as JSON', raw: { ...usage, padding: 'x'.repeat(LIMITS.maxEventBytes) }, code: EventErrorCode.TooLarge, field: undefined },
  { name: 'a deeply nested array', raw: JSON.parse(`${'['.repeat(20_000)}${']'.repeat(20_000)}`) as unknown, code: EventErrorCode.TooLarge, field: undefined },
  // NotAnObject
  { name: 'null', raw: null, code: EventErrorCode.NotAnObject, field: undefined },
  { name: 'an array', raw: [valid['tool.call']], code: EventErrorCode.NotAnObject, field: undefined },
  { name: 'a string', raw: '{"type":"tool.call"}', code: EventErrorCode.NotAnObject, field: undefined },
  // UnknownField
  { name: 'tenant_id in the body', raw: { ...usage, tenant_id: 'other-tenant' }, code: EventErrorCode.UnknownField, field: 'tenant_id' },
  { name: 'an unknown field', raw: { ...usage, costs: '0.1' }, code: EventErrorCode.UnknownField, field: 'costs' },
  { name: 'camelCase field names', raw: { ...usage, inputTokens: 5 }, code: EventErrorCode.UnknownField, field: 'inputTokens' },
  // MissingField
  { name: 'no type', raw: { ...common }, code: EventErrorCode.MissingField, field: 'type' },
  { name: 'no event_id', raw: { ...usage, event_id: undefined }, code: EventErrorCode.MissingField, field: 'event_id' },
  { name: 'null event_id', raw: { ...usage, event_id: null }, code: EventErrorCode.MissingField, field: 'event_id' },
  { name: 'no session_id', raw: { ...usage, session_id: undefined }, code: EventErrorCode.MissingField, field: 'session_id' },
  { name: 'no agent_id on usage', raw: { ...usage, agent_id: undefined }, code: EventErrorCode.MissingField, field: 'agent_id' },
  { name: 'no occurred_at', raw: { ...usage, occurred_at: undefined }, code: EventErrorCode.MissingField, field: 'occurred_at' },
  { name: 'no voids_event_id on a void', raw: { ...valid['event.voided'], voids_event_id: undefined }, code: EventErrorCode.MissingField, field: 'voids_event_id' },
  // FieldNotForType
  { name: 'status on llm.usage', raw: { ...usage, status: 'success' }, code: EventErrorCode.FieldNotForType, field: 'status' },
  { name: 'cost on tool.call', raw: { ...valid['tool.call'], cost: '0.01' }, code: EventErrorCode.FieldNotForType, field: 'cost' },
  { name: 'tokens on session.started', raw: { ...valid['session.started'], input_tokens: 0 }, code: EventErrorCode.FieldNotForType, field: 'input_tokens' },
  { name: 'voids_event_id on session.ended', raw: { ...valid['session.ended'], voids_event_id: 'e' }, code: EventErrorCode.FieldNotForType, field: 'voids_event_id' },
  // BadId
  { name: 'a numeric event_id', raw: { ...usage, event_id: 123 }, code: EventErrorCode.BadId, field: 'event_id' },
  { name: 'an empty event_id', raw: { ...usage, event_id: '' }, code: EventErrorCode.BadId, field: 'event_id' },
  { name: 'an event_id with surrounding spaces', raw: { ...usage, event_id: ' evt-1' }, code: EventErrorCode.BadId, field: 'event_id' },
  { name: 'an event_id of 129 characters', raw: { ...usage, event_id: 'x'.repeat(129) }, code: EventErrorCode.BadId, field: 'event_id' },
  { name: 'a control character (BEL) in event_id', raw: { ...usage, event_id: 'evt\u0007' }, code: EventErrorCode.BadId, field: 'event_id' },
  { name: 'a C1 control character in session_id', raw: { ...usage, session_id: 's\u0085x' }, code: EventErrorCode.BadId, field: 'session_id' },
  { name: 'DEL in agent_id', raw: { ...usage, agent_id: 'a\u007f' }, code: EventErrorCode.BadId, field: 'agent_id' },
  { name: 'a newline in team_id', raw: { ...usage, team_id: 'team\nx' }, code: EventErrorCode.BadId, field: 'team_id' },
  { name: 'an unpaired surrogate in event_id', raw: { ...usage, event_id: 'evt-\ud83d' }, code: EventErrorCode.BadId, field: 'event_id' },
  { name: 'a lone low surrogate in event_id', raw: { ...usage, event_id: '\ude00evt' }, code: EventErrorCode.BadId, field: 'event_id' },
  { name: 'a void of itself', raw: { ...valid['event.voided'], voids_event_id: common.event_id }, code: EventErrorCode.BadId, field: 'voids_event_id' },
  // BadType
  { name: 'an unknown type', raw: { ...usage, type: 'llm.Usage' }, code: EventErrorCode.BadType, field: 'type' },
  { name: 'a non-string type', raw: { ...usage, type: 2 }, code: EventErrorCode.BadType, field: 'type' },
  // BadTime
  { name: 'a timestamp without a zone', raw: { ...usage, occurred_at: '2026-11-25T11:00:00' }, code: EventErrorCode.BadTime, field: 'occurred_at' },
  { name: 'a date without a time', raw: { ...usage, occurred_at: '2026-11-25' }, code: EventErrorCode.BadTime, field: 'occurred_at' },
  { name: 'epoch milliseconds', raw: { ...usage, occurred_at: NOW }, code: EventErrorCode.BadTime, field: 'occurred_at' },
  { name: 'month 13', raw: { ...usage, occurred_at: '2026-13-01T00:00:00Z' }, code: EventErrorCode.BadTime, field: 'occurred_at' },
  { name: '30 February', raw: { ...usage, occurred_at: '2026-02-30T00:00:00Z' }, code: EventErrorCode.BadTime, field: 'occurred_at' },
  { name: '29 February of a common year', raw: { ...usage, occurred_at: '2025-02-29T10:00:00Z' }, code: EventErrorCode.BadTime, field: 'occurred_at' },
  { name: '31 November', raw: { ...usage, occurred_at: '2025-11-31T10:00:00+02:00' }, code: EventErrorCode.BadTime, field: 'occurred_at' },
  { name: 'a time before 2000', raw: { ...usage, occurred_at: '1999-12-31T23:59:59Z' }, code: EventErrorCode.BadTime, field: 'occurred_at' },
  // FutureTime
  {
    name: 'a time more than 24 hours ahead',
    raw: { ...usage, occurred_at: new Date(NOW + LIMITS.maxFutureMs + 1).toISOString() },
    code: EventErrorCode.FutureTime,
    field: 'occurred_at',
  },
  // BadTokens
  { name: 'negative tokens', raw: { ...usage, input_tokens: -1 }, code: EventErrorCode.BadTokens, field: 'input_tokens' },
  { name: 'fractional tokens', raw: { ...usage, output_tokens: 1.5 }, code: EventErrorCode.BadTokens, field: 'output_tokens' },
  { name: 'tokens as a string', raw: { ...usage, cached_input_tokens: '10' }, code: EventErrorCode.BadTokens, field: 'cached_input_tokens' },
  { name: 'more tokens than the limit', raw: { ...usage, reasoning_tokens: LIMITS.maxTokens + 1 }, code: EventErrorCode.BadTokens, field: 'reasoning_tokens' },
  // BadCost
  { name: 'a negative cost', raw: { ...usage, cost: -0.01 }, code: EventErrorCode.BadCost, field: 'cost' },
  { name: 'a negative cost string', raw: { ...usage, cost: '-0.000000001' }, code: EventErrorCode.BadCost, field: 'cost' },
  { name: 'a cost with ten decimals', raw: { ...usage, cost: '0.0000000001' }, code: EventErrorCode.BadCost, field: 'cost' },
  { name: 'a float cost that is not exact', raw: { ...usage, cost: 0.1 + 0.2 }, code: EventErrorCode.BadCost, field: 'cost' },
  { name: 'a cost that is not a number', raw: { ...usage, cost: 'ten cents' }, code: EventErrorCode.BadCost, field: 'cost' },
  { name: 'a boolean cost', raw: { ...usage, cost: true }, code: EventErrorCode.BadCost, field: 'cost' },
  { name: 'a cost above one million', raw: { ...usage, cost: '1000000.000000001' }, code: EventErrorCode.BadCost, field: 'cost' },
  // BadStatus
  { name: 'session.ended without status', raw: { ...valid['session.ended'], status: undefined }, code: EventErrorCode.BadStatus, field: 'status' },
  { name: 'an unknown status', raw: { ...valid['session.ended'], status: 'done' }, code: EventErrorCode.BadStatus, field: 'status' },
  { name: 'running as an end status', raw: { ...valid['session.ended'], status: 'running' }, code: EventErrorCode.BadStatus, field: 'status' },
  { name: 'an upper-case status', raw: { ...valid['session.ended'], status: 'SUCCESS' }, code: EventErrorCode.BadStatus, field: 'status' },
  // BadDuration
  { name: 'a negative duration', raw: { ...valid['tool.call'], duration_ms: -5 }, code: EventErrorCode.BadDuration, field: 'duration_ms' },
  { name: 'a fractional duration', raw: { ...valid['tool.call'], duration_ms: 1.5 }, code: EventErrorCode.BadDuration, field: 'duration_ms' },
  { name: 'a duration over a year', raw: { ...valid['tool.call'], duration_ms: LIMITS.maxDurationMs + 1 }, code: EventErrorCode.BadDuration, field: 'duration_ms' },
  // BadText
  { name: 'a numeric model', raw: { ...usage, model: 4 }, code: EventErrorCode.BadText, field: 'model' },
  { name: 'a provider over 128 characters', raw: { ...usage, provider: 'p'.repeat(129) }, code: EventErrorCode.BadText, field: 'provider' },
  { name: 'an error over 2000 characters', raw: { ...valid['session.ended'], error: 'e'.repeat(2001) }, code: EventErrorCode.BadText, field: 'error' },
  { name: 'a tool name that is an object', raw: { ...valid['tool.call'], tool_name: { name: 'x' } }, code: EventErrorCode.BadText, field: 'tool_name' },
];

describe('parseEvent rejects', () => {
  it.each(cases)('$name with $code', ({ raw, code, field }) => {
    const err = rejection(raw);
    expect(err.code).toBe(code);
    expect(err.field).toBe(field);
    expect(err.statusCode).toBe(400);
    expect(err.retriable).toBe(false);
  });

  it('tells a client sending tenant_id that the tenant comes from its credentials', () => {
    expect(rejection({ ...usage, tenant_id: TENANT }).message).toMatch(/credentials/);
  });

  it('has a case for every code parseEvent can give', () => {
    const perEvent = Object.values(EventErrorCode);
    expect(new Set(cases.map((c) => c.code))).toEqual(new Set(perEvent));
  });
});

/** A valid JSON event of the type that carries `field`, with `field` set to `value`. */
function withString(field: keyof typeof JSON_STRING_FIELDS, value: string): Record<string, unknown> {
  const carrier: Record<keyof typeof JSON_STRING_FIELDS, keyof typeof valid> = {
    event_id: 'llm.usage',
    session_id: 'llm.usage',
    agent_id: 'llm.usage',
    team_id: 'llm.usage',
    provider: 'llm.usage',
    model: 'llm.usage',
    tool_name: 'tool.call',
    error: 'session.ended',
    voids_event_id: 'event.voided',
    reason: 'event.voided',
  };
  return { ...valid[carrier[field]], [field]: value };
}

const FIELDS = Object.keys(JSON_STRING_FIELDS) as (keyof typeof JSON_STRING_FIELDS)[];
const MAX_CHARS = { id: LIMITS.idMaxChars, name: LIMITS.nameMaxChars, text: LIMITS.textMaxChars };

describe('every string field, every kind of character', () => {
  const grid = FIELDS.flatMap((field) => CHARACTER_CASES.map((c) => ({ field, kind: JSON_STRING_FIELDS[field], ...c })));

  it.each(grid.filter((g) => g.badFor.includes(g.kind)))('$field with $name: rejected, naming the field', ({ field, kind, value }) => {
    const err = rejection(withString(field, value));
    expect(err.code).toBe(kind === 'id' ? EventErrorCode.BadId : EventErrorCode.BadText);
    expect(err.field).toBe(field);
    expect(err.message).toMatch(new RegExp(`^${field} holds .*U\\+[0-9A-F]{4}.* at character \\d+`));
  });

  it.each(grid.filter((g) => !g.badFor.includes(g.kind)))('$field with $name: accepted, kept exactly', ({ field, value }) => {
    const e = parseEvent(withString(field, value), TENANT, NOW);
    const domain: Record<keyof typeof JSON_STRING_FIELDS, string | null> = {
      event_id: e.eventId,
      session_id: e.sessionId,
      agent_id: e.agentId,
      team_id: e.teamId,
      voids_event_id: e.voidsEventId,
      provider: e.provider,
      model: e.model,
      tool_name: e.toolName,
      error: e.error,
      reason: e.reason,
    };
    expect(domain[field]).toBe(value);
  });

  it('says which character and where, counting characters, not UTF-16 units', () => {
    expect(rejection(withString('model', 'gpt\u0000x')).message).toBe('model holds U+0000 (NUL) at character 4, which Postgres cannot store');
    expect(rejection(withString('reason', '\u{1f600}\ud800')).message).toMatch(/^reason holds an unpaired surrogate U\+D800 at character 2:/);
    expect(rejection(withString('error', 'a\u0007')).message).toMatch(/tab, line feed and carriage return/);
    expect(rejection(withString('tool_name', 'a\tb')).message).toBe('tool_name holds the control character U+0009 at character 2; names allow none');
  });

  it.each(FIELDS.map((field) => ({ field, kind: JSON_STRING_FIELDS[field] })))(
    '$field: its length limit counts characters (code points), for ASCII and emoji alike',
    ({ field, kind }) => {
      const max = MAX_CHARS[kind];
      const code = kind === 'id' ? EventErrorCode.BadId : EventErrorCode.BadText;
      for (const unit of ['x', '\u{1f600}', '日']) {
        expect(() => parseEvent(withString(field, unit.repeat(max)), TENANT, NOW), `${max} of ${unit}`).not.toThrow();
        const err = rejection(withString(field, unit.repeat(max + 1)));
        expect([err.code, err.field, err.message]).toEqual([code, field, `${field} is longer than ${max} characters`]);
      }
    },
  );

  it('ids, and only ids, must be non-empty without surrounding white space', () => {
    for (const field of FIELDS) {
      for (const value of ['', ' a', 'a ', '\u00a0a', 'a\u2028', '\ufeffa']) {
        if (JSON_STRING_FIELDS[field] === 'id') {
          expect(rejection(withString(field, value)), `${field}=${JSON.stringify(value)}`).toMatchObject({ code: EventErrorCode.BadId, field });
        } else {
          expect(() => parseEvent(withString(field, value), TENANT, NOW), `${field}=${JSON.stringify(value)}`).not.toThrow();
        }
      }
    }
  });

  it('a string field holding another JSON type is rejected with the same code', () => {
    for (const field of FIELDS) {
      for (const value of [1, true, ['a'], { a: 1 }]) {
        const code = JSON_STRING_FIELDS[field] === 'id' ? EventErrorCode.BadId : EventErrorCode.BadText;
        expect(rejection({ ...withString(field, 'x'), [field]: value })).toMatchObject({ code, field });
      }
    }
  });
});

describe('parseTime', () => {
  it('reads RFC 3339 with the one parser: lower-case t and z, offsets, nine fractional digits', () => {
    expect(parseTime('2026-11-25t12:00:00z', NOW)).toBe(NOW);
    expect(parseTime('2026-11-25T06:30:00.999999999-05:30', NOW)).toBe(NOW + 999);
    expect(parseTime('2000-01-01T00:00:00Z', NOW)).toBe(LIMITS.minOccurredAtMs);
  });

  it.each([
    ['2026-11-25T24:00:00Z', EventErrorCode.BadTime, /is not a real time: hour 24/],
    ['2026-11-25T12:60:00Z', EventErrorCode.BadTime, /minute 60/],
    ['2026-11-25T12:00:60Z', EventErrorCode.BadTime, /second 60/],
    ['2026-11-25T12:00:00+24:00', EventErrorCode.BadTime, /offset/],
    ['2026-02-29T12:00:00Z', EventErrorCode.BadTime, /February 2026 has 28 days/],
    ['2026-11-25T12:00Z', EventErrorCode.BadTime, /RFC 3339/],
    ['2026-11-25T12:00:00.1234567890Z', EventErrorCode.BadTime, /RFC 3339/],
    ['2026-11-25 12:00:00Z', EventErrorCode.BadTime, /RFC 3339/],
    ['1999-12-31T23:59:59.999Z', EventErrorCode.BadTime, /before 2000-01-01/],
    ['0001-01-01T00:00:00Z', EventErrorCode.BadTime, /before 2000-01-01/],
    ['9999-12-31T23:59:59Z', EventErrorCode.FutureTime, /24 hours in the future/],
  ])('%s: %s', (text, code, message) => {
    let caught: unknown;
    try {
      parseTime(text, NOW);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(EventRejectedError);
    expect(caught).toMatchObject({ code, field: 'occurred_at' });
    expect((caught as Error).message).toMatch(message);
  });
});

describe('legacySummaryToEvents', () => {
  const summary: LegacySummary = {
    sessionId: SESSION,
    agentId: 'agent-7',
    teamId: 'team-2',
    startedAt: '2026-11-25T10:00:00.000Z',
    durationMs: 90_000,
    status: 'success',
    inputTokens: 1500,
    outputTokens: 400,
    cost: '0.25',
    model: 'gpt-4o',
  };

  it('makes started, usage and ended events with ids derived from the session id', () => {
    const events = legacySummaryToEvents(summary, TENANT, NOW);
    expect(events.map((e) => e.eventId)).toEqual([
      `${LEGACY_EVENT_PREFIX}${SESSION}:started`,
      `${LEGACY_EVENT_PREFIX}${SESSION}:usage`,
      `${LEGACY_EVENT_PREFIX}${SESSION}:ended`,
    ]);
    expect(events.map((e) => e.type)).toEqual(['session.started', 'llm.usage', 'session.ended']);
    for (const e of events) expect(e).toMatchObject({ tenantId: TENANT, sessionId: SESSION, agentId: 'agent-7', teamId: 'team-2' });
    expect(events[1]).toMatchObject({ model: 'gpt-4o', inputTokens: 1500, outputTokens: 400, costNanos: 250_000_000n });
    expect(events[2]).toMatchObject({ status: 'success' });
  });

  it('is deterministic: the same summary twice gives the same events', () => {
    expect(legacySummaryToEvents({ ...summary }, TENANT, NOW)).toEqual(legacySummaryToEvents({ ...summary }, TENANT, NOW + 60_000));
  });

  it('ends the session durationMs after it started', () => {
    const [started, usageEvent, ended] = legacySummaryToEvents(summary, TENANT, NOW);
    expect(started?.occurredAtMs).toBe(Date.UTC(2026, 10, 25, 10, 0, 0));
    expect(ended?.occurredAtMs).toBe(Date.UTC(2026, 10, 25, 10, 1, 30));
    expect(usageEvent?.occurredAtMs).toBe(ended?.occurredAtMs);
  });

  it('prefers endedAt to durationMs', () => {
    const events = legacySummaryToEvents({ ...summary, endedAt: '2026-11-25T10:05:00Z' }, TENANT, NOW);
    expect(events[2]?.occurredAtMs).toBe(Date.UTC(2026, 10, 25, 10, 5, 0));
  });

  it('ends a finished session without an end time at its start', () => {
    const events = legacySummaryToEvents({ ...summary, durationMs: null, status: 'timeout' }, TENANT, NOW);
    expect(events[2]).toMatchObject({ type: 'session.ended', status: 'timeout', occurredAtMs: Date.UTC(2026, 10, 25, 10) });
  });

  it('gives no ended event for a running session', () => {
    const events = legacySummaryToEvents({ ...summary, status: 'running', durationMs: null, cost: null }, TENANT, NOW);
    expect(events.map((e) => e.type)).toEqual(['session.started', 'llm.usage']);
    expect(events[1]).toMatchObject({ occurredAtMs: Date.UTC(2026, 10, 25, 10), costNanos: null });
  });

  it('rejects an unknown status, an end before the start, and a bad start time', () => {
    const cases: [Partial<LegacySummary>, EventErrorCode, string][] = [
      [{ status: 'done' }, EventErrorCode.BadStatus, 'status'],
      [{ endedAt: '2026-11-25T09:59:59Z' }, EventErrorCode.BadTime, 'endedAt'],
      [{ startedAt: 'yesterday' }, EventErrorCode.BadTime, 'startedAt'],
      [{ cost: -1 }, EventErrorCode.BadCost, 'cost'],
      // Found by tests/fuzz.int.test.ts: new Date(start + 8.6e15) is invalid and toISOString threw (a 500).
      [{ durationMs: 8_638_204_386_652_290 }, EventErrorCode.BadDuration, 'durationMs'],
      [{ durationMs: LIMITS.maxDurationMs + 1 }, EventErrorCode.BadDuration, 'durationMs'],
    ];
    for (const [over, code, field] of cases) {
      let caught: unknown;
      try {
        legacySummaryToEvents({ ...summary, ...over }, TENANT, NOW);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(over)).toBeInstanceOf(EventRejectedError);
      expect(caught).toMatchObject({ code, field });
    }
  });
});
