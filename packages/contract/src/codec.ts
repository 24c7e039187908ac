import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { END_STATUSES, EVENT_TYPES, TraceLedgerError, type EndStatus, type EventType, type TraceEvent } from '@traceledger/core';
import { crc64Avro, fingerprintBytesLE } from './crc64.js';
import { RecordErrorCode } from './errors.js';

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
   * Decodes one record. Throws TraceLedgerError with a TL_RECORD_* code (never retriable) when
   * the bytes are not single-object encoded, name an unknown schema, or do not decode into an
   * event that keeps the contract: such records belong in the dead-letter topic.
   */
  decode(bytes: Buffer): DecodedEvent {
    if (bytes.length < HEADER_BYTES || bytes[0] !== 0xc3 || bytes[1] !== 0x01) {
      throw new TraceLedgerError(RecordErrorCode.NotSingleObject, 'record is not Avro single-object encoded (no C3 01 marker)');
    }
    const fp = fingerprintHex(bytes.readBigUInt64LE(2));
    const writer = this.known.get(fp);
    if (writer === undefined) {
      throw new TraceLedgerError(RecordErrorCode.UnknownFingerprint, `record names unknown schema fingerprint ${fp}`);
    }
    let record: AvroTraceEvent;
    try {
      record = this.reader.fromBuffer(bytes.subarray(HEADER_BYTES), this.resolverFor(fp, writer)) as AvroTraceEvent;
    } catch (cause) {
      throw new TraceLedgerError(RecordErrorCode.Undecodable, `record body does not decode with schema ${fp}`, { cause });
    }
    return { event: toDomain(record), ingestedAtMs: record.ingested_at, writerFingerprint: fp };
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

function toDomain(r: AvroTraceEvent): TraceEvent {
  const type = AVRO_TO_TYPE.get(r.type);
  if (type === undefined || !(EVENT_TYPES as readonly string[]).includes(type)) {
    throw new TraceLedgerError(RecordErrorCode.BreaksContract, `event ${r.event_id} has type ${r.type}, unknown to this reader`);
  }
  const status = r.status === null ? null : (r.status.toLowerCase() as EndStatus);
  if (status !== null && !(END_STATUSES as readonly string[]).includes(status)) {
    throw new TraceLedgerError(RecordErrorCode.BreaksContract, `event ${r.event_id} has unknown status ${r.status}`);
  }
  if (type === 'session.ended' && status === null) {
    throw new TraceLedgerError(RecordErrorCode.BreaksContract, `session.ended event ${r.event_id} has no status`);
  }
  if (type === 'event.voided' && r.voids_event_id === null) {
    throw new TraceLedgerError(RecordErrorCode.BreaksContract, `event.voided event ${r.event_id} names no event`);
  }
  for (const [k, v] of [
    ['input_tokens', r.input_tokens],
    ['output_tokens', r.output_tokens],
    ['cached_input_tokens', r.cached_input_tokens],
    ['reasoning_tokens', r.reasoning_tokens],
    ['cost_nanos', r.cost_nanos ?? 0],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new TraceLedgerError(RecordErrorCode.BreaksContract, `event ${r.event_id} has ${k} ${v}, not a whole number >= 0`);
    }
  }
  if (r.event_id === '' || r.session_id === '' || r.tenant_id === '') {
    throw new TraceLedgerError(RecordErrorCode.BreaksContract, 'record has an empty event_id, session_id or tenant_id');
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
