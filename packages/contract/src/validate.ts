import { END_STATUSES, EVENT_TYPES, TimeErrorCode, TraceLedgerError, parseInstant, parseMoney, type EndStatus, type EventType, type TraceEvent } from '@traceledger/core';
import { EventErrorCode, EventRejectedError } from './errors.js';
import { jsonByteLength } from './json-size.js';
import { COMMON_FIELDS, LIMITS, TYPE_FIELDS, costBreach, durationBreach, stringBreach, timeBreach, tokensBreach, type Breach, type StringField } from './rules.js';

export { LIMITS } from './rules.js';

const ALL_FIELDS = new Set<string>([...COMMON_FIELDS, ...Object.values(TYPE_FIELDS).flat()]);

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
    provider: optionalText(obj, 'provider'),
    model: optionalText(obj, 'model'),
    inputTokens: tokens(obj, 'input_tokens'),
    outputTokens: tokens(obj, 'output_tokens'),
    cachedInputTokens: tokens(obj, 'cached_input_tokens'),
    reasoningTokens: tokens(obj, 'reasoning_tokens'),
    costNanos: cost(obj['cost']),
    status: null,
    error: optionalText(obj, 'error'),
    toolName: optionalText(obj, 'tool_name'),
    durationMs: duration(obj['duration_ms']),
    voidsEventId: null,
    reason: optionalText(obj, 'reason'),
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

/**
 * Parses an RFC 3339 timestamp (with zone) into epoch milliseconds within contract bounds: not
 * before 2000-01-01 (TL_EVENT_BAD_TIME) and at most 24 hours past `nowMs` (TL_EVENT_FUTURE_TIME).
 */
export function parseTime(value: unknown, nowMs: number, field = 'occurred_at'): number {
  if (value === undefined || value === null) throw missing(field);
  const badFormat = `${field} must be an RFC 3339 timestamp with a zone, like "2026-11-25T12:00:00.000Z"`;
  if (typeof value !== 'string') throw new EventRejectedError(EventErrorCode.BadTime, badFormat, field);
  let ms: number;
  try {
    ms = parseInstant(value);
  } catch (err) {
    if (!(err instanceof TraceLedgerError)) throw err;
    // The parser's own message says which day or hour does not exist.
    throw new EventRejectedError(EventErrorCode.BadTime, err.code === TimeErrorCode.BadFormat ? badFormat : `${field} ${err.message}`, field);
  }
  rejectIf(timeBreach(field, ms, nowMs + LIMITS.maxFutureMs, `${LIMITS.maxFutureMs / 3_600_000} hours in the future`));
  return ms;
}

function rejectIf(breach: Breach | null): void {
  if (breach !== null) throw new EventRejectedError(breach.code, breach.message, breach.field);
}

function missing(field: string): EventRejectedError {
  return new EventRejectedError(EventErrorCode.MissingField, `${field} is required`, field);
}

function requiredId(obj: Record<string, unknown>, field: StringField): string {
  const v = obj[field];
  if (v === undefined || v === null) throw missing(field);
  return checkId(v, field);
}

function optionalId(obj: Record<string, unknown>, field: StringField): string | null {
  const v = obj[field];
  return v === undefined || v === null ? null : checkId(v, field);
}

function checkId(v: unknown, field: StringField): string {
  if (typeof v !== 'string') throw new EventRejectedError(EventErrorCode.BadId, `${field} must be a string`, field);
  rejectIf(stringBreach(field, v));
  return v;
}

function optionalText(obj: Record<string, unknown>, field: StringField): string | null {
  const v = obj[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new EventRejectedError(EventErrorCode.BadText, `${field} must be a string`, field);
  rejectIf(stringBreach(field, v));
  return v;
}

function tokens(obj: Record<string, unknown>, field: string): number {
  const v = obj[field];
  if (v === undefined || v === null) return 0;
  rejectIf(tokensBreach(field, v));
  return v as number;
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
  rejectIf(costBreach('cost', nanos));
  return nanos;
}

function duration(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  rejectIf(durationBreach(v));
  return v as number;
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
