import {
  END_STATUSES,
  EVENT_TYPES,
  MAX_EVENT_NANOS,
  TraceLedgerError,
  parseMoney,
  type EndStatus,
  type EventType,
  type TraceEvent,
} from '@traceledger/core';
import { EventErrorCode, EventRejectedError } from './errors.js';
import { jsonByteLength } from './json-size.js';

/** Limits of contract v1 (docs/contract.md). */
export const LIMITS = {
  idMaxChars: 128,
  textMaxChars: 2000,
  maxTokens: 1_000_000_000_000,
  maxFutureMs: 24 * 3_600_000,
  /** Events before this are rejected as a clock or unit error (seconds sent as milliseconds, etc.). */
  minOccurredAtMs: Date.UTC(2000, 0, 1),
  maxDurationMs: 366 * 24 * 3_600_000,
  /** Default largest event, as compact JSON; ingest's MAX_EVENT_BYTES sets it. A valid event is far smaller. */
  maxEventBytes: 32_768,
} as const;

const COMMON_FIELDS = ['event_id', 'session_id', 'agent_id', 'team_id', 'type', 'occurred_at'] as const;
const TYPE_FIELDS: Record<EventType, readonly string[]> = {
  'session.started': [],
  'llm.usage': ['provider', 'model', 'input_tokens', 'output_tokens', 'cached_input_tokens', 'reasoning_tokens', 'cost'],
  'tool.call': ['tool_name', 'duration_ms'],
  'session.ended': ['status', 'error'],
  'event.voided': ['voids_event_id', 'reason'],
};
const ALL_FIELDS = new Set<string>([...COMMON_FIELDS, ...Object.values(TYPE_FIELDS).flat()]);
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
// Control characters (C0, DEL, C1) and unpaired surrogates have no place in an id.
// eslint-disable-next-line no-control-regex
const BAD_ID_CHARS = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Checks one JSON event of a `POST /v1/events` batch against contract v1 and returns the
 * domain event. Throws EventRejectedError with a code and a message naming the field.
 * `tenantId` comes from the caller's credentials; `nowMs` bounds how far in the future
 * `occurred_at` may be. An event over `maxEventBytes` as compact JSON is rejected before any
 * other check (TL_EVENT_TOO_LARGE), so a huge value is never inspected or echoed in a message.
 */
export function parseEvent(raw: unknown, tenantId: string, nowMs: number, maxEventBytes: number = LIMITS.maxEventBytes): TraceEvent {
  if (jsonByteLength(raw, maxEventBytes) > maxEventBytes) {
    throw new EventRejectedError(EventErrorCode.TooLarge, `the event is larger than ${maxEventBytes} bytes as JSON; an event that keeps the contract is far smaller`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new EventRejectedError(EventErrorCode.NotAnObject, 'each event must be a JSON object');
  }
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key === 'tenant_id') {
      throw new EventRejectedError(
        EventErrorCode.UnknownField,
        'tenant_id is not accepted in the body: the tenant comes from your credentials',
        key,
      );
    }
    if (!ALL_FIELDS.has(key)) {
      throw new EventRejectedError(EventErrorCode.UnknownField, `unknown field "${key}" (see docs/contract.md)`, key);
    }
  }

  const type = obj['type'];
  if (type === undefined) throw missing('type');
  if (typeof type !== 'string' || !(EVENT_TYPES as readonly string[]).includes(type)) {
    throw new EventRejectedError(
      EventErrorCode.BadType,
      `type ${JSON.stringify(type)} is not one of ${EVENT_TYPES.join(', ')}`,
      'type',
    );
  }
  const eventType = type as EventType;
  const allowed = new Set<string>([...COMMON_FIELDS, ...TYPE_FIELDS[eventType]]);
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key) && obj[key] !== null) {
      throw new EventRejectedError(EventErrorCode.FieldNotForType, `field "${key}" is not allowed on a ${eventType} event`, key);
    }
  }

  const eventId = requiredId(obj, 'event_id');
  const sessionId = requiredId(obj, 'session_id');
  const agentId = eventType === 'event.voided' ? optionalId(obj, 'agent_id') : requiredId(obj, 'agent_id');
  const teamId = optionalId(obj, 'team_id');
  const occurredAtMs = parseTime(obj['occurred_at'], nowMs);

  const event: TraceEvent = {
    eventId,
    tenantId,
    sessionId,
    agentId,
    teamId,
    type: eventType,
    occurredAtMs,
    provider: optionalText(obj, 'provider', LIMITS.idMaxChars),
    model: optionalText(obj, 'model', LIMITS.idMaxChars),
    inputTokens: tokens(obj, 'input_tokens'),
    outputTokens: tokens(obj, 'output_tokens'),
    cachedInputTokens: tokens(obj, 'cached_input_tokens'),
    reasoningTokens: tokens(obj, 'reasoning_tokens'),
    costNanos: cost(obj['cost']),
    status: null,
    error: optionalText(obj, 'error', LIMITS.textMaxChars),
    toolName: optionalText(obj, 'tool_name', LIMITS.idMaxChars),
    durationMs: duration(obj['duration_ms']),
    voidsEventId: null,
    reason: optionalText(obj, 'reason', LIMITS.textMaxChars),
  };
  if (eventType === 'session.ended') event.status = endStatus(obj['status']);
  if (eventType === 'event.voided') {
    event.voidsEventId = requiredId(obj, 'voids_event_id');
    if (event.voidsEventId === eventId) {
      throw new EventRejectedError(EventErrorCode.BadId, 'an event cannot void itself', 'voids_event_id');
    }
  }
  return event;
}

/** Parses an RFC 3339 timestamp (with zone) into epoch milliseconds within contract bounds. */
export function parseTime(value: unknown, nowMs: number, field = 'occurred_at'): number {
  if (value === undefined || value === null) throw missing(field);
  if (typeof value !== 'string' || !RFC3339.test(value)) {
    throw new EventRejectedError(
      EventErrorCode.BadTime,
      `${field} must be an RFC 3339 timestamp with a zone, like "2026-11-25T12:00:00.000Z"`,
      field,
    );
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || !isCalendarDay(value)) throw new EventRejectedError(EventErrorCode.BadTime, `${field} ${JSON.stringify(value)} is not a real date`, field);
  if (ms < LIMITS.minOccurredAtMs) {
    throw new EventRejectedError(EventErrorCode.BadTime, `${field} is before 2000-01-01`, field);
  }
  if (ms > nowMs + LIMITS.maxFutureMs) {
    throw new EventRejectedError(EventErrorCode.FutureTime, `${field} is more than 24 hours in the future`, field);
  }
  return ms;
}

// Date.parse rolls an impossible day over ("2026-02-30" becomes 2 March) instead of failing.
function isCalendarDay(rfc3339: string): boolean {
  const [y, m, d] = [rfc3339.slice(0, 4), rfc3339.slice(5, 7), rfc3339.slice(8, 10)].map(Number) as [number, number, number];
  return d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

function missing(field: string): EventRejectedError {
  return new EventRejectedError(EventErrorCode.MissingField, `${field} is required`, field);
}

function requiredId(obj: Record<string, unknown>, field: string): string {
  const v = obj[field];
  if (v === undefined || v === null) throw missing(field);
  return checkId(v, field);
}

function optionalId(obj: Record<string, unknown>, field: string): string | null {
  const v = obj[field];
  return v === undefined || v === null ? null : checkId(v, field);
}

function checkId(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new EventRejectedError(EventErrorCode.BadId, `${field} must be a string`, field);
  if (v.length === 0 || v.trim() !== v) {
    throw new EventRejectedError(EventErrorCode.BadId, `${field} must be non-empty, without leading or trailing spaces`, field);
  }
  if (v.length > LIMITS.idMaxChars) {
    throw new EventRejectedError(EventErrorCode.BadId, `${field} is longer than ${LIMITS.idMaxChars} characters`, field);
  }
  if (BAD_ID_CHARS.test(v)) {
    throw new EventRejectedError(EventErrorCode.BadId, `${field} contains control characters or broken unicode`, field);
  }
  return v;
}

function optionalText(obj: Record<string, unknown>, field: string, max: number): string | null {
  const v = obj[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new EventRejectedError(EventErrorCode.BadText, `${field} must be a string`, field);
  if (v.length > max) throw new EventRejectedError(EventErrorCode.BadText, `${field} is longer than ${max} characters`, field);
  return v;
}

function tokens(obj: Record<string, unknown>, field: string): number {
  const v = obj[field];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > LIMITS.maxTokens) {
    throw new EventRejectedError(
      EventErrorCode.BadTokens,
      `${field} must be a whole number from 0 to ${LIMITS.maxTokens}, got ${JSON.stringify(v)}`,
      field,
    );
  }
  return v;
}

function cost(v: unknown): bigint | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' && typeof v !== 'number') {
    throw new EventRejectedError(EventErrorCode.BadCost, 'cost must be a decimal number or a decimal string like "0.0125"', 'cost');
  }
  let nanos: bigint;
  try {
    nanos = parseMoney(v);
  } catch (err) {
    const why = err instanceof TraceLedgerError ? err.message : String(err);
    throw new EventRejectedError(EventErrorCode.BadCost, `cost: ${why}`, 'cost');
  }
  if (nanos < 0n) throw new EventRejectedError(EventErrorCode.BadCost, 'cost must not be negative', 'cost');
  if (nanos > MAX_EVENT_NANOS) throw new EventRejectedError(EventErrorCode.BadCost, 'cost is too large for one event', 'cost');
  return nanos;
}

function duration(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > LIMITS.maxDurationMs) {
    throw new EventRejectedError(EventErrorCode.BadDuration, `duration_ms must be a whole number of milliseconds from 0 to ${LIMITS.maxDurationMs}`, 'duration_ms');
  }
  return v;
}

function endStatus(v: unknown): EndStatus {
  if (v === undefined || v === null) {
    throw new EventRejectedError(EventErrorCode.BadStatus, `a session.ended event needs a status: one of ${END_STATUSES.join(', ')}`, 'status');
  }
  if (typeof v !== 'string' || !(END_STATUSES as readonly string[]).includes(v)) {
    throw new EventRejectedError(EventErrorCode.BadStatus, `status ${JSON.stringify(v)} is not one of ${END_STATUSES.join(', ')}`, 'status');
  }
  return v as EndStatus;
}
