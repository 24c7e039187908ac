import { TraceLedgerError, type TraceEvent } from '@traceledger/core';
import type { EventCodec } from './codec.js';

/**
 * The record wire format: what a Kafka record of the trace topic and of its dead-letter topic
 * carries besides the Avro value. The one place that writes and reads `tl-*` headers; ingest, the
 * backfill loader, the consumer, replay, the dead-letter commands and the bench all go through it.
 */
export const HEADER = {
  /** Informational: the event's tenant and id (the value is authoritative). */
  tenant: 'tl-tenant',
  eventId: 'tl-event-id',
  /** The record belongs to this backfill (staged until it is closed; docs/architecture.md). */
  backfill: 'tl-backfill',
  /** Set on a record re-driven from the dead-letter topic: `<dlq topic>/<partition>/<offset>`. */
  redrivenFrom: 'tl-redriven-from',
  dlqCode: 'tl-dlq-code',
  dlqReason: 'tl-dlq-reason',
  /** The SQLSTATE of a record the database refused. */
  dlqSqlstate: 'tl-dlq-sqlstate',
  sourceTopic: 'tl-source-topic',
  sourcePartition: 'tl-source-partition',
  sourceOffset: 'tl-source-offset',
  deadAt: 'tl-dead-at',
} as const;

/** Headers only the dead-letter topic carries; a re-drive removes them. */
const DEAD_LETTER_HEADERS: readonly string[] = [
  HEADER.dlqCode,
  HEADER.dlqReason,
  HEADER.dlqSqlstate,
  HEADER.sourceTopic,
  HEADER.sourcePartition,
  HEADER.sourceOffset,
  HEADER.deadAt,
];

/** The longest reason kept in a dead letter's header. */
const MAX_REASON_CHARS = 1000;

/** A record as read from a topic (structurally the Kafka port's InRecord). */
export interface WireRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** A record to publish (structurally the Kafka port's OutMessage). */
export interface WireMessage {
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

/** The trace topic's record for one accepted event: keyed by session, Avro value, `tl-*` headers. */
export function eventRecord(codec: EventCodec, event: TraceEvent, ingestedAtMs: number, options: { backfillId?: string } = {}): WireMessage {
  const headers: Record<string, string> = { [HEADER.tenant]: event.tenantId, [HEADER.eventId]: event.eventId };
  if (options.backfillId !== undefined) headers[HEADER.backfill] = options.backfillId;
  return { key: event.sessionId, value: codec.encode(event, ingestedAtMs), headers };
}

/** A record of the trace topic, read: the event, or why it cannot be read. */
export type DecodedRecord =
  | { ok: true; event: TraceEvent; backfillId: string | null; partition: number; offset: string }
  | { ok: false; code: string; reason: string };

/**
 * Decodes a trace-topic record. A record that cannot be read or breaks the contract is returned
 * as `ok: false` with its TL_RECORD_* code, for the dead-letter topic; anything else thrown is a bug.
 */
export function decodeRecord(codec: EventCodec, r: WireRecord): DecodedRecord {
  try {
    if (r.value === null || r.value.length === 0) throw new TraceLedgerError('TL_RECORD_EMPTY', 'record has no value (tombstone)');
    const { event } = codec.decode(r.value);
    const backfillId = r.headers[HEADER.backfill];
    return { ok: true, event, backfillId: backfillId === undefined || backfillId === '' ? null : backfillId, partition: r.partition, offset: r.offset };
  } catch (err) {
    if (!(err instanceof TraceLedgerError)) throw err;
    return { ok: false, code: err.code, reason: err.message };
  }
}

/**
 * The dead letter of a record: its key and original bytes, its own headers (a backfill header
 * survives, so a re-drive stays in its backfill), and why and where from.
 */
export function deadLetterRecord(r: WireRecord, why: { code: string; reason: string; sqlstate?: string }, nowMs: number = Date.now()): WireMessage {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) if (!DEAD_LETTER_HEADERS.includes(k)) headers[k] = v;
  headers[HEADER.dlqCode] = why.code;
  headers[HEADER.dlqReason] = why.reason.length > MAX_REASON_CHARS ? `${why.reason.slice(0, MAX_REASON_CHARS)}…` : why.reason;
  if (why.sqlstate !== undefined) headers[HEADER.dlqSqlstate] = why.sqlstate;
  headers[HEADER.sourceTopic] = r.topic;
  headers[HEADER.sourcePartition] = String(r.partition);
  headers[HEADER.sourceOffset] = r.offset;
  headers[HEADER.deadAt] = new Date(nowMs).toISOString();
  return { key: r.key === null ? null : r.key.toString('utf8'), value: r.value ?? Buffer.alloc(0), headers };
}

/**
 * The record a dead letter is re-driven as: the original key, bytes and headers (`tl-backfill`,
 * `tl-tenant`, `tl-event-id`, …), without the dead-letter headers, marked with where it came from.
 */
export function redriveRecord(deadLetter: WireRecord & { value: Buffer }): WireMessage {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(deadLetter.headers)) if (!DEAD_LETTER_HEADERS.includes(k) && k !== HEADER.redrivenFrom) headers[k] = v;
  headers[HEADER.redrivenFrom] = `${deadLetter.topic}/${deadLetter.partition}/${deadLetter.offset}`;
  return { key: deadLetter.key === null ? null : deadLetter.key.toString('utf8'), value: deadLetter.value, headers };
}

/** One dead letter as an operator sees it. */
export interface DeadLetterInfo {
  partition: number;
  offset: string;
  code: string;
  reason: string;
  /** The database's SQLSTATE, for a record the database refused. */
  sqlstate: string | null;
  sourceTopic: string | null;
  sourcePartition: number | null;
  sourceOffset: string | null;
  /** The backfill the record belongs to, if any. */
  backfillId: string | null;
  key: string | null;
  deadAt: string | null;
  /** Bytes of the original record's value. */
  bytes: number;
}

/** Reads a dead letter's headers. */
export function describeDeadLetter(r: WireRecord): DeadLetterInfo {
  const h = r.headers;
  const sourcePartition = h[HEADER.sourcePartition];
  return {
    partition: r.partition,
    offset: r.offset,
    code: h[HEADER.dlqCode] ?? '(no code)',
    reason: h[HEADER.dlqReason] ?? '',
    sqlstate: h[HEADER.dlqSqlstate] ?? null,
    sourceTopic: h[HEADER.sourceTopic] ?? null,
    sourcePartition: sourcePartition === undefined ? null : Number(sourcePartition),
    sourceOffset: h[HEADER.sourceOffset] ?? null,
    backfillId: h[HEADER.backfill] ?? null,
    key: r.key === null ? null : r.key.toString('utf8'),
    deadAt: h[HEADER.deadAt] ?? null,
    bytes: r.value?.length ?? 0,
  };
}
