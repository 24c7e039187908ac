import { isUtf8 } from 'node:buffer';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { END_STATUSES, EVENT_TYPES, TraceLedgerError, type EndStatus, type EventType, type TraceEvent } from '@traceledger/core';
import { crc64Avro, fingerprintBytesLE } from './crc64.js';
import { EventErrorCode, RecordErrorCode, RecordRejectedError } from './errors.js';
import { STRING_FIELDS, eventBreach, stringBreach, type Breach } from './rules.js';

/** The folder holding every published schema version. */
export const SCHEMAS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../schemas');
/** The schema this code writes with (contract v1). */
export const CURRENT_SCHEMA_FILE = 'trace-event.avsc';

type Resolver = ReturnType<avro.Type["createResolver"]>;

const MAGIC = Buffer.from([0xc3, 0x01]);
const HEADER_BYTES = MAGIC.length + 8;

const TYPE_TO_AVRO: Record<EventType, string> = {
  'session.started': 'SESSION_STARTED',
  'llm.usage': 'LLM_USAGE',
  'tool.call': 'TOOL_CALL',
  'session.ended': 'SESSION_ENDED',
  'event.voided': 'EVENT_VOIDED',
};
const AVRO_TO_TYPE = new Map(Object.entries(TYPE_TO_AVRO).map(([k, v]) => [v, k as EventType]));

/** The Avro record as it travels (snake_case, as in schemas/trace-event.avsc). */
interface AvroTraceEvent {
  event_id: string;
  tenant_id: string;
  session_id: string;
  agent_id: string | null;
  team_id: string | null;
  type: string;
  occurred_at: number;
  ingested_at: number;
  provider: string | null;
  model: string | null;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  reasoning_tokens: number;
  cost_nanos: number | null;
  status: string | null;
  error: string | null;
  tool_name: string | null;
  duration_ms: number | null;
  voids_event_id: string | null;
  reason: string | null;
}

/** A decoded record: the event plus when ingest accepted it. */
export interface DecodedEvent {
  event: TraceEvent;
  ingestedAtMs: number;
  /** Fingerprint of the schema the record was written with, as 16 hex digits. */
  writerFingerprint: string;
}

/** Parses one Avro schema from JSON text. */
export function parseSchema(json: string): avro.Type {
  return avro.Type.forSchema(JSON.parse(json) as avro.Schema);
}

/** The CRC-64-AVRO fingerprint of a type's Parsing Canonical Form. */
export function schemaFingerprint(type: avro.Type): bigint {
  return crc64Avro(Buffer.from(JSON.stringify(type.schema()), 'utf8'));
}

/**
 * Encodes and decodes trace events with Avro single-object encoding: C3 01, the writer schema's
 * CRC-64-AVRO fingerprint (8 bytes, little-endian), then the Avro binary body. Any Avro
 * implementation can read a record given the schemas in `schemas/`. Decoding resolves the
 * writer's schema (any known version) against the reader's.
 */
export class EventCodec {
  private readonly writer: avro.Type;
  private readonly writerHeader: Buffer;
  private readonly reader: avro.Type;
  private readonly known = new Map<string, avro.Type>();
  private readonly resolvers = new Map<string, Resolver>();
  private readonly exactViews = new Map<string, avro.Type>();

  /**
   * `writerSchema` is the schema records are written with; `readerSchema` (default: the writer)
   * is the one they are read into; `knownSchemas` are every version a record may carry.
   */
  constructor(writerSchema: avro.Type, knownSchemas: avro.Type[] = [writerSchema], readerSchema: avro.Type = writerSchema) {
    this.writer = writerSchema;
    this.reader = readerSchema;
    for (const t of [writerSchema, readerSchema, ...knownSchemas]) this.known.set(fingerprintHex(schemaFingerprint(t)), t);
    this.writerHeader = Buffer.concat([MAGIC, fingerprintBytesLE(schemaFingerprint(writerSchema))]);
  }

  /** A codec over the schemas in `dir` that writes with `trace-event.avsc`. */
  static fromDirectory(dir: string = SCHEMAS_DIR): EventCodec {
    const all = readdirSync(dir).filter((f) => f.endsWith('.avsc')).sort();
    const types = all.map((f) => parseSchema(readFileSync(join(dir, f), 'utf8')));
    const current = types[all.indexOf(CURRENT_SCHEMA_FILE)];
    if (current === undefined) throw new TraceLedgerError('TL_CONTRACT_MISSING', `no ${CURRENT_SCHEMA_FILE} in ${dir}`);
    return new EventCodec(current, types);
  }

  /** Fingerprint of the writer schema, as 16 hex digits. */
  get writerFingerprint(): string {
    return fingerprintHex(schemaFingerprint(this.writer));
  }

  /** Encodes one event, stamped with the time ingest accepted it. */
  encode(event: TraceEvent, ingestedAtMs: number): Buffer {
    const record: AvroTraceEvent = {
      event_id: event.eventId,
      tenant_id: event.tenantId,
      session_id: event.sessionId,
      agent_id: event.agentId,
      team_id: event.teamId,
      type: TYPE_TO_AVRO[event.type],
      occurred_at: event.occurredAtMs,
      ingested_at: ingestedAtMs,
      provider: event.provider,
      model: event.model,
      input_tokens: event.inputTokens,
      output_tokens: event.outputTokens,
      cached_input_tokens: event.cachedInputTokens,
      reasoning_tokens: event.reasoningTokens,
      cost_nanos: event.costNanos === null ? null : Number(event.costNanos),
      status: event.status === null ? null : event.status.toUpperCase(),
      error: event.error,
      tool_name: event.toolName,
      duration_ms: event.durationMs,
      voids_event_id: event.voidsEventId,
      reason: event.reason,
    };
    return Buffer.concat([this.writerHeader, this.writer.toBuffer(record)]);
  }

  /**
   * Decodes one record and checks it against every rule of the contract ingest applies (see
   * rules.ts: a record can reach the topic without passing ingest). `nowMs` is the reader's clock,
   * which bounds `ingested_at`. Throws TraceLedgerError with a TL_RECORD_* code (never retriable)
   * when the bytes are not single-object encoded, name an unknown schema, do not decode, or decode
   * into an event that breaks the contract (RecordRejectedError, TL_RECORD_BREAKS_CONTRACT, naming
   * the field): such records belong in the dead-letter topic. Nothing else is thrown.
   */
  decode(bytes: Buffer, nowMs: number = Date.now()): DecodedEvent {
    if (bytes.length < HEADER_BYTES || bytes[0] !== 0xc3 || bytes[1] !== 0x01) {
      throw new TraceLedgerError(RecordErrorCode.NotSingleObject, 'record is not Avro single-object encoded (no C3 01 marker)');
    }
    const fp = fingerprintHex(bytes.readBigUInt64LE(2));
    const writer = this.known.get(fp);
    if (writer === undefined) {
      throw new TraceLedgerError(RecordErrorCode.UnknownFingerprint, `record names unknown schema fingerprint ${fp}`);
    }
    const body = bytes.subarray(HEADER_BYTES);
    let record: AvroTraceEvent;
    try {
      record = this.reader.fromBuffer(body, this.resolverFor(fp, writer)) as AvroTraceEvent;
    } catch (cause) {
      // avsc refuses a long beyond ±(2^53 - 2) ("potential precision loss") rather than round it:
      // read such a body again exactly, to say which field it is.
      throw this.exactReading(fp, writer, body, longBreach) ?? new TraceLedgerError(RecordErrorCode.Undecodable, `record body does not decode with schema ${fp}`, { cause });
    }
    // avsc reads bytes that are not UTF-8 as U+FFFD: the text would change silently.
    if (holdsReplacementCharacter(record)) {
      const notUtf8 = this.exactReading(fp, writer, body, utf8Breach);
      if (notUtf8 !== null) throw notUtf8;
    }
    const event = toDomain(record);
    const breach = eventBreach(event, record.ingested_at, nowMs);
    if (breach !== null) throw breaksContract(event.eventId, breach);
    return { event, ingestedAtMs: record.ingested_at, writerFingerprint: fp };
  }

  /**
   * Reads `body` with an exact view of the writer's schema (longs as bigint beyond 2^53, strings
   * as their bytes) and asks `find` for a breach in it; null when there is none or the body does
   * not decode that way either.
   */
  private exactReading(fp: string, writer: avro.Type, body: Buffer, find: (r: Record<string, unknown>) => Breach | null): RecordRejectedError | null {
    let view = this.exactViews.get(fp);
    if (view === undefined) {
      view = avro.Type.forSchema(writer.schema() as avro.Schema, { typeHook: exactTypeHook });
      this.exactViews.set(fp, view);
    }
    let exact: Record<string, unknown>;
    try {
      exact = view.fromBuffer(body) as Record<string, unknown>;
    } catch {
      return null;
    }
    const breach = find(exact);
    if (breach === null) return null;
    const id = exact['event_id'];
    return breaksContract(Buffer.isBuffer(id) && isUtf8(id) ? id.toString('utf8') : null, breach);
  }

  private resolverFor(fp: string, writer: avro.Type): Resolver | undefined {
    if (writer === this.reader) return undefined;
    let r = this.resolvers.get(fp);
    if (r === undefined) {
      r = this.reader.createResolver(writer);
      this.resolvers.set(fp, r);
    }
    return r;
  }
}

function fingerprintHex(fp: bigint): string {
  return fp.toString(16).padStart(16, '0');
}

const STRING_NAMES = Object.keys(STRING_FIELDS) as (keyof typeof STRING_FIELDS & keyof AvroTraceEvent)[];

function holdsReplacementCharacter(r: AvroTraceEvent): boolean {
  for (const f of STRING_NAMES) if (r[f]?.includes('\ufffd') === true) return true;
  return false;
}

/** The record as a domain event; the enums are checked here, every other rule by eventBreach. */
function toDomain(r: AvroTraceEvent): TraceEvent {
  const type = AVRO_TO_TYPE.get(r.type);
  if (type === undefined || !(EVENT_TYPES as readonly string[]).includes(type)) {
    throw breaksContract(r.event_id, { code: EventErrorCode.BadType, field: 'type', message: `type ${r.type} is unknown to this reader` });
  }
  const status = r.status === null ? null : (r.status.toLowerCase() as EndStatus);
  if (status !== null && !(END_STATUSES as readonly string[]).includes(status)) {
    throw breaksContract(r.event_id, { code: EventErrorCode.BadStatus, field: 'status', message: `status ${r.status} is unknown to this reader` });
  }
  return {
    eventId: r.event_id,
    tenantId: r.tenant_id,
    sessionId: r.session_id,
    agentId: r.agent_id,
    teamId: r.team_id,
    type,
    occurredAtMs: r.occurred_at,
    provider: r.provider,
    model: r.model,
    inputTokens: r.input_tokens,
    outputTokens: r.output_tokens,
    cachedInputTokens: r.cached_input_tokens,
    reasoningTokens: r.reasoning_tokens,
    costNanos: r.cost_nanos === null ? null : BigInt(r.cost_nanos),
    status,
    error: r.error,
    toolName: r.tool_name,
    durationMs: r.duration_ms,
    voidsEventId: r.voids_event_id,
    reason: r.reason,
  };
}

/** The error for a record that decodes but breaks the contract; names the event when its id is sound. */
function breaksContract(eventId: string | null, breach: Breach): RecordRejectedError {
  const named = eventId !== null && stringBreach('event_id', eventId) === null;
  return new RecordRejectedError(`${named ? `event ${JSON.stringify(eventId)}` : 'record'} breaks contract v1: ${breach.message}`, breach.field, breach.code);
}

/** The rule each long field of the record falls under. */
const LONG_RULES: Partial<Record<string, EventErrorCode>> = {
  occurred_at: EventErrorCode.BadTime,
  ingested_at: EventErrorCode.BadTime,
  cost_nanos: EventErrorCode.BadCost,
  duration_ms: EventErrorCode.BadDuration,
};

/** The largest magnitude avsc's own long type reads (its isSafeLong: 2^53 - 2); beyond, it throws. */
const AVSC_LONG_LIMIT = 9_007_199_254_740_990n;

/**
 * A long read exactly: a number within what avsc's long type reads, a bigint beyond. Only the
 * exact view uses it, to name the field after avsc refused a value.
 */
const EXACT_LONG = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => {
    const n = buf.readBigInt64LE();
    return n >= -AVSC_LONG_LIMIT && n <= AVSC_LONG_LIMIT ? Number(n) : n;
  },
  toBuffer: (n: number | bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (n: number | bigint) => n,
  toJSON: (n: number | bigint) => Number(n),
  isValid: (n: unknown) => (typeof n === 'number' && Number.isSafeInteger(n)) || typeof n === 'bigint',
  compare: (a: number | bigint, b: number | bigint) => (a < b ? -1 : a > b ? 1 : 0),
});
const RAW_STRING = avro.Type.forSchema('bytes');

function exactTypeHook(schema: avro.Schema): avro.Type | undefined {
  const name = typeof schema === 'string' ? schema : typeof schema === 'object' && !Array.isArray(schema) ? (schema as { type?: unknown }).type : undefined;
  if (name === 'long') return EXACT_LONG;
  if (name === 'string') return RAW_STRING;
  return undefined;
}

function longBreach(exact: Record<string, unknown>): Breach | null {
  for (const [field, value] of Object.entries(exact)) {
    if (typeof value === 'bigint') {
      return { code: LONG_RULES[field] ?? EventErrorCode.BadTokens, field, message: `${field} is ${value}, beyond what a JavaScript number holds exactly (2^53), and far beyond any bound of the contract` };
    }
  }
  return null;
}

function utf8Breach(exact: Record<string, unknown>): Breach | null {
  for (const field of STRING_NAMES) {
    const value = exact[field];
    if (Buffer.isBuffer(value) && !isUtf8(value)) {
      return { code: EventErrorCode.BadText, field, message: `${field} holds bytes that are not UTF-8 (they would be read as U+FFFD, changing the text)` };
    }
  }
  return null;
}
