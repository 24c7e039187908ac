import { END_STATUSES, MAX_EVENT_NANOS, type EventType, type TraceEvent } from '@traceledger/core';
import { EventErrorCode } from './errors.js';

/**
 * The rules of contract v1 for one field at a time, as plain functions: each returns the Breach
 * it finds, or null. Ingest (parseEvent, on JSON) and the consumer (EventCodec.decode, on Avro
 * records, which any producer can write to the topic without passing ingest) both run these, so
 * what ingest refuses never reaches the fold by another road, and what ingest accepts is never
 * dead-lettered.
 */

/** Limits of contract v1 (docs/contract.md). Lengths are counted in Unicode characters (code points). */
export const LIMITS = {
  idMaxChars: 128,
  /** provider, model, tool_name. */
  nameMaxChars: 128,
  /** error, reason. */
  textMaxChars: 2000,
  maxTokens: 1_000_000_000_000,
  /** How far past ingest's clock `occurred_at` may be. */
  maxFutureMs: 24 * 3_600_000,
  /**
   * On the topic, `occurred_at` may be up to maxFutureMs + this past the record's `ingested_at`:
   * ingest checks against one reading of its clock and stamps the record with a later one, and a
   * clock stepped back in between must not dead-letter an event ingest answered as accepted.
   */
  recordClockSlackMs: 3_600_000,
  /** Events before this are rejected as a clock or unit error (seconds sent as milliseconds, etc.). */
  minOccurredAtMs: Date.UTC(2000, 0, 1),
  maxDurationMs: 366 * 24 * 3_600_000,
  /** Default largest event, as compact JSON; ingest's MAX_EVENT_BYTES sets it. A valid event is far smaller. */
  maxEventBytes: 32_768,
} as const;

/** A rule an event breaks: the code ingest answers with, the field (contract name) and a message naming it. */
export interface Breach {
  code: EventErrorCode;
  field: string;
  message: string;
}

/**
 * What a string field may hold. `id`: an opaque key (event, tenant, session, agent, team, voided
 * event). `name`: a name the price book and the breakdowns match exactly (provider, model,
 * tool_name). `text`: free text for people (error, reason).
 */
export type StringKind = 'id' | 'name' | 'text';

/** Every string field of the contract and its kind (tenant_id only exists on the topic). */
export const STRING_FIELDS = {
  event_id: 'id',
  tenant_id: 'id',
  session_id: 'id',
  agent_id: 'id',
  team_id: 'id',
  voids_event_id: 'id',
  provider: 'name',
  model: 'name',
  tool_name: 'name',
  error: 'text',
  reason: 'text',
} as const satisfies Record<string, StringKind>;
export type StringField = keyof typeof STRING_FIELDS;

const MAX_CHARS: Record<StringKind, number> = { id: LIMITS.idMaxChars, name: LIMITS.nameMaxChars, text: LIMITS.textMaxChars };
// eslint-disable-next-line no-control-regex
const SCAN_NEEDED = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/;
const CODE: Record<StringKind, EventErrorCode> = { id: EventErrorCode.BadId, name: EventErrorCode.BadText, text: EventErrorCode.BadText };

/**
 * Checks one string field's value. Everywhere: no NUL (Postgres text and jsonb cannot hold it) and
 * no unpaired surrogate (it has no UTF-8 form: Avro writes it as U+FFFD or as bytes that are not
 * UTF-8, and jsonb refuses its escape), so a value is stored exactly as it was sent. Ids and names:
 * no control character at all (C0, DEL, C1), since they are matched exactly and shown in tables.
 * Free text: tab, line feed and carriage return are the only control characters allowed. Ids are
 * non-empty without leading or trailing white space. Lengths count Unicode characters.
 */
export function stringBreach(field: StringField, value: string): Breach | null {
  const kind = STRING_FIELDS[field];
  if (kind === 'id' && (value.length === 0 || value.trim() !== value)) return stringFail(field, 'must be non-empty, without leading or trailing spaces');
  // Most values hold no control character and no surrogate: then each UTF-16 unit is one character.
  const chars = SCAN_NEEDED.test(value) ? scan(field, kind, value) : value.length;
  if (typeof chars !== 'number') return chars;
  return chars > MAX_CHARS[kind] ? stringFail(field, `is longer than ${MAX_CHARS[kind]} characters`) : null;
}

/** The length of `value` in characters, or the first character its kind does not allow. */
function scan(field: StringField, kind: StringKind, value: string): number | Breach {
  let chars = 0;
  for (let i = 0; i < value.length; i++) {
    chars++;
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = value.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return stringFail(field, `holds an unpaired surrogate ${codePoint(c)} at character ${chars}: it is broken UTF-16 and has no UTF-8 form`);
    }
    if (c === 0) return stringFail(field, `holds ${codePoint(c)} (NUL) at character ${chars}, which Postgres cannot store`);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
      if (kind === 'text' && (c === 0x09 || c === 0x0a || c === 0x0d)) continue;
      const allowed = kind === 'text' ? 'free text allows only tab, line feed and carriage return' : `${kind}s allow none`;
      return stringFail(field, `holds the control character ${codePoint(c)} at character ${chars}; ${allowed}`);
    }
  }
  return chars;
}

function stringFail(field: StringField, message: string): Breach {
  return { code: CODE[STRING_FIELDS[field]], field, message: `${field} ${message}` };
}

/** A token count: a whole number from 0 to LIMITS.maxTokens. */
export function tokensBreach(field: string, value: unknown): Breach | null {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= LIMITS.maxTokens) return null;
  return { code: EventErrorCode.BadTokens, field, message: `${field} must be a whole number from 0 to ${LIMITS.maxTokens}, got ${show(value)}` };
}

/** A reported cost in nano-units: from 0 to MAX_EVENT_NANOS. */
export function costBreach(field: string, nanos: bigint): Breach | null {
  if (nanos < 0n) return { code: EventErrorCode.BadCost, field, message: `${field} must not be negative` };
  if (nanos > MAX_EVENT_NANOS) return { code: EventErrorCode.BadCost, field, message: `${field} is too large for one event (at most 1,000,000)` };
  return null;
}

/** A duration: whole milliseconds from 0 to LIMITS.maxDurationMs. */
export function durationBreach(value: unknown): Breach | null {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= LIMITS.maxDurationMs) return null;
  return { code: EventErrorCode.BadDuration, field: 'duration_ms', message: `duration_ms must be a whole number of milliseconds from 0 to ${LIMITS.maxDurationMs}, got ${show(value)}` };
}

/**
 * An event time in epoch ms: not before 2000-01-01 (earlier is a clock or unit error), and not
 * after `latestMs`. `reference` says what `latestMs` is, for the message.
 */
export function timeBreach(field: string, ms: number, latestMs: number, reference: string): Breach | null {
  if (!Number.isSafeInteger(ms)) return { code: EventErrorCode.BadTime, field, message: `${field} is not a whole number of milliseconds` };
  if (ms < LIMITS.minOccurredAtMs) return { code: EventErrorCode.BadTime, field, message: `${field} is before 2000-01-01` };
  if (ms > latestMs) return { code: EventErrorCode.FutureTime, field, message: `${field} is more than ${reference}` };
  return null;
}

/** The fields every event type may carry (JSON names). */
export const COMMON_FIELDS = ['event_id', 'session_id', 'agent_id', 'team_id', 'type', 'occurred_at'] as const;
/** The fields each event type may carry besides the common ones (JSON names). */
export const TYPE_FIELDS: Record<EventType, readonly string[]> = {
  'session.started': [],
  'llm.usage': ['provider', 'model', 'input_tokens', 'output_tokens', 'cached_input_tokens', 'reasoning_tokens', 'cost'],
  'tool.call': ['tool_name', 'duration_ms'],
  'session.ended': ['status', 'error'],
  'event.voided': ['voids_event_id', 'reason'],
};

/** Type-specific fields of a domain event, by JSON name, and whether the event sets them. */
const SET_FIELDS: readonly [string, (e: TraceEvent) => boolean][] = [
  ['provider', (e) => e.provider !== null],
  ['model', (e) => e.model !== null],
  ['input_tokens', (e) => e.inputTokens !== 0],
  ['output_tokens', (e) => e.outputTokens !== 0],
  ['cached_input_tokens', (e) => e.cachedInputTokens !== 0],
  ['reasoning_tokens', (e) => e.reasoningTokens !== 0],
  ['cost', (e) => e.costNanos !== null],
  ['tool_name', (e) => e.toolName !== null],
  ['duration_ms', (e) => e.durationMs !== null],
  ['status', (e) => e.status !== null],
  ['error', (e) => e.error !== null],
  ['voids_event_id', (e) => e.voidsEventId !== null],
  ['reason', (e) => e.reason !== null],
];

/**
 * Every rule of the contract over a whole domain event as it comes off the topic: each field's
 * content in the order of schemas/trace-event.avsc (string characters and lengths, times, token,
 * cost and duration bounds), then the event's shape (required fields, fields of another type, a
 * void of itself). `ingestedAtMs` must be after 2000-01-01 and at most maxFutureMs past `nowMs`
 * (the reader's clock); `occurred_at` at most maxFutureMs + recordClockSlackMs past `ingestedAtMs`.
 * Fields are named as in the Avro record (`cost_nanos`). Returns the first breach, or null.
 */
export function eventBreach(e: TraceEvent, ingestedAtMs: number, nowMs: number): Breach | null {
  // Straight-line on purpose: the consumer runs this on every record.
  return (
    optionalString('event_id', e.eventId) ??
    optionalString('tenant_id', e.tenantId) ??
    optionalString('session_id', e.sessionId) ??
    optionalString('agent_id', e.agentId) ??
    optionalString('team_id', e.teamId) ??
    // ingested_at before occurred_at, which it bounds.
    timeBreach('ingested_at', ingestedAtMs, nowMs + LIMITS.maxFutureMs, `${hours(LIMITS.maxFutureMs)} ahead of this reader's clock`) ??
    timeBreach('occurred_at', e.occurredAtMs, ingestedAtMs + RECORD_FUTURE_MS, `${hours(RECORD_FUTURE_MS)} after ingested_at`) ??
    optionalString('provider', e.provider) ??
    optionalString('model', e.model) ??
    tokensBreach('input_tokens', e.inputTokens) ??
    tokensBreach('output_tokens', e.outputTokens) ??
    tokensBreach('cached_input_tokens', e.cachedInputTokens) ??
    tokensBreach('reasoning_tokens', e.reasoningTokens) ??
    (e.costNanos === null ? null : costBreach('cost_nanos', e.costNanos)) ??
    optionalString('error', e.error) ??
    optionalString('tool_name', e.toolName) ??
    (e.durationMs === null ? null : durationBreach(e.durationMs)) ??
    optionalString('voids_event_id', e.voidsEventId) ??
    optionalString('reason', e.reason) ??
    shapeBreach(e)
  );
}

const RECORD_FUTURE_MS = LIMITS.maxFutureMs + LIMITS.recordClockSlackMs;

function hours(ms: number): string {
  return `${ms / 3_600_000} hours`;
}

function optionalString(field: StringField, value: string | null): Breach | null {
  return value === null ? null : stringBreach(field, value);
}

function shapeBreach(e: TraceEvent): Breach | null {
  if (e.agentId === null && e.type !== 'event.voided') return missing('agent_id');
  const allowed = TYPE_FIELDS[e.type];
  for (const [field, isSet] of SET_FIELDS) {
    if (isSet(e) && !allowed.includes(field)) {
      const name = field === 'cost' ? 'cost_nanos' : field;
      return { code: EventErrorCode.FieldNotForType, field: name, message: `field "${name}" is not allowed on a ${e.type} event` };
    }
  }
  if (e.type === 'session.ended' && (e.status === null || !(END_STATUSES as readonly string[]).includes(e.status))) {
    return { code: EventErrorCode.BadStatus, field: 'status', message: `a session.ended event needs a status: one of ${END_STATUSES.join(', ')}` };
  }
  if (e.type === 'event.voided') {
    if (e.voidsEventId === null) return missing('voids_event_id');
    if (e.voidsEventId === e.eventId) return { code: EventErrorCode.BadId, field: 'voids_event_id', message: 'an event cannot void itself' };
  }
  return null;
}

function missing(field: string): Breach {
  return { code: EventErrorCode.MissingField, field, message: `${field} is required` };
}

function codePoint(c: number): string {
  return `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** A value for a message, cut short: it may be anything a client sent (never walked: it may be nested deep). */
function show(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
