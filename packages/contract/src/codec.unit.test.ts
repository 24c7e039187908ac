import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMPTY_EVENT_FIELDS, END_STATUSES, EVENT_TYPES, MAX_EVENT_NANOS, TraceLedgerError, type EventType, type TraceEvent } from '@traceledger/core';
import { CURRENT_SCHEMA_FILE, EventCodec, SCHEMAS_DIR, parseSchema, schemaFingerprint } from './codec.js';
import { crc64Avro, fingerprintBytesLE } from './crc64.js';
import { RecordErrorCode } from './errors.js';

const v1 = parseSchema(readFileSync(join(SCHEMAS_DIR, CURRENT_SCHEMA_FILE), 'utf8'));
const v2 = parseSchema(readFileSync(new URL('./__fixtures__/trace-event-v2.avsc', import.meta.url), 'utf8'));

/*
 * Reference fingerprints, computed by Avro Java 1.12.0 (org.apache.avro:avro) as
 * `SchemaNormalization.parsingFingerprint64(new Schema.Parser().parse(...))`, printed as the
 * unsigned hex of the signed long it returns. Any Avro implementation must agree with these.
 */
const JAVA_FINGERPRINTS = {
  null: 0x63dd24e7cc258f8an, // signed 7195948357588979594
  int: 0x7275d51a3f395c8fn, // signed 8247732601305521295
  string: 0x8f014872634503c7n, // signed -8142146995180207161
  point: 0x962c06f915bdc016n, // signed -7625712402163711978
  nested: 0xd0d39053dc5c3921n, // signed -3399214603880875743
  traceEventV1: 0x0911d5e1508e5462n, // schemas/trace-event.avsc, signed 653538584641295458
  traceEventV2Fixture: 0x44b9b7259458c063n, // __fixtures__/trace-event-v2.avsc, signed 4952190637301088355
};

/** A small record with a namespace, a doc, a default and a logical type (all outside the canonical form). */
const POINT_SCHEMA = {
  type: 'record',
  name: 'Point',
  namespace: 'example.geo',
  doc: 'a point',
  fields: [
    { name: 'x', type: 'int' },
    { name: 'y', type: { type: 'long', logicalType: 'timestamp-millis' }, default: 0, doc: 'why' },
    { name: 'tag', type: ['null', { type: 'enum', name: 'Tag', symbols: ['A', 'B'] }], default: null },
  ],
};

/** Namespaces inherited and overridden, a named type used twice, fixed, map, array, extra attributes. */
const NESTED_SCHEMA = {
  type: 'record',
  name: 'Outer',
  namespace: 'a.b',
  aliases: ['Old'],
  fields: [
    { name: 'inner', type: { type: 'record', name: 'Inner', fields: [{ name: 'h', type: { type: 'fixed', name: 'Hash', size: 16 } }] } },
    { name: 'again', type: 'Inner' },
    { name: 'other', type: { type: 'record', name: 'c.d.Other', fields: [{ name: 'm', type: { type: 'map', values: { type: 'array', items: 'a.b.Hash' } } }] } },
    { name: 'e', type: { type: 'enum', name: 'E', namespace: 'x', symbols: ['P', 'Q'] } },
    { name: 's', type: { type: 'string', 'avro.java.string': 'String' } },
    { name: 'f', type: ['null', 'float', 'double', 'bytes', 'boolean'], order: 'descending' },
  ],
};

const NOW = Date.UTC(2026, 10, 25, 12);

function event(type: EventType, over: Partial<TraceEvent> = {}): TraceEvent {
  return {
    ...EMPTY_EVENT_FIELDS,
    eventId: `evt-${type}`,
    tenantId: 'tenant-a',
    sessionId: 'session-1',
    agentId: 'agent-7',
    type,
    occurredAtMs: NOW - 1_000,
    ...over,
  };
}

/** One event of each type, with the fields of its type set. */
const examples: TraceEvent[] = [
  event('session.started', { teamId: 'team-2' }),
  event('llm.usage', {
    provider: 'anthropic',
    model: 'claude-sonnet',
    inputTokens: 1_200,
    outputTokens: 300,
    cachedInputTokens: 1_000_000_000_000,
    reasoningTokens: 7,
    costNanos: MAX_EVENT_NANOS,
  }),
  event('llm.usage', { eventId: 'evt-unpriced', costNanos: null, inputTokens: 5 }),
  event('tool.call', { toolName: 'web.search', durationMs: 840 }),
  event('session.ended', { status: 'cancelled', error: 'user hung up ✋' }),
  event('event.voided', { agentId: null, voidsEventId: 'evt-llm.usage', reason: 'double-billed' }),
];

function recordError(f: () => unknown): TraceLedgerError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(TraceLedgerError);
    expect((err as TraceLedgerError).retriable).toBe(false);
    return err as TraceLedgerError;
  }
  throw new Error('expected decode to throw');
}

/** Writes a raw Avro record with single-object framing, bypassing the codec's own checks. */
function frame(type: avro.Type, record: Record<string, unknown>): Buffer {
  return Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytesLE(schemaFingerprint(type)), type.toBuffer(record)]);
}

function avroRecord(e: TraceEvent, ingestedAt: number): Record<string, unknown> {
  return {
    event_id: e.eventId,
    tenant_id: e.tenantId,
    session_id: e.sessionId,
    agent_id: e.agentId,
    team_id: e.teamId,
    type: e.type.replace('.', '_').toUpperCase(),
    occurred_at: e.occurredAtMs,
    ingested_at: ingestedAt,
    provider: e.provider,
    model: e.model,
    input_tokens: e.inputTokens,
    output_tokens: e.outputTokens,
    cached_input_tokens: e.cachedInputTokens,
    reasoning_tokens: e.reasoningTokens,
    cost_nanos: e.costNanos === null ? null : Number(e.costNanos),
    status: e.status === null ? null : e.status.toUpperCase(),
    error: e.error,
    tool_name: e.toolName,
    duration_ms: e.durationMs,
    voids_event_id: e.voidsEventId,
    reason: e.reason,
  };
}

describe('crc64Avro against Avro Java', () => {
  it('fingerprints primitive canonical forms as Avro Java does', () => {
    expect(crc64Avro(Buffer.from('"null"', 'utf8'))).toBe(JAVA_FINGERPRINTS.null);
    expect(crc64Avro(Buffer.from('"int"', 'utf8'))).toBe(JAVA_FINGERPRINTS.int);
    expect(schemaFingerprint(parseSchema('"string"'))).toBe(JAVA_FINGERPRINTS.string);
    expect(schemaFingerprint(parseSchema('{"type": "int"}'))).toBe(JAVA_FINGERPRINTS.int);
  });

  it('fingerprints records by their Parsing Canonical Form as Avro Java does', () => {
    expect(schemaFingerprint(parseSchema(JSON.stringify(POINT_SCHEMA)))).toBe(JAVA_FINGERPRINTS.point);
    expect(schemaFingerprint(parseSchema(JSON.stringify(NESTED_SCHEMA)))).toBe(JAVA_FINGERPRINTS.nested);
  });

  it('fingerprints the contract schemas as Avro Java does', () => {
    expect(schemaFingerprint(v1)).toBe(JAVA_FINGERPRINTS.traceEventV1);
    expect(schemaFingerprint(v2)).toBe(JAVA_FINGERPRINTS.traceEventV2Fixture);
  });

  it('is the empty fingerprint for no bytes, and depends on every byte', () => {
    expect(crc64Avro(new Uint8Array())).toBe(0xc15d213aa4d7a795n);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (bytes, at, flip) => {
        const changed = Uint8Array.from(bytes);
        const i = at % bytes.length;
        changed[i] = (changed[i] as number) ^ flip;
        const fp = crc64Avro(bytes);
        expect(fp >= 0n && fp < 2n ** 64n).toBe(true);
        expect(crc64Avro(changed)).not.toBe(fp);
      }),
    );
  });
});

describe('EventCodec', () => {
  const codec = EventCodec.fromDirectory();

  it('writes with the current contract schema', () => {
    expect(codec.writerFingerprint).toBe('0911d5e1508e5462');
  });

  it.each(examples.map((e) => [e.eventId, e] as const))('round-trips %s', (_id, e) => {
    const bytes = codec.encode(e, NOW);
    expect(codec.decode(bytes)).toEqual({ event: e, ingestedAtMs: NOW, writerFingerprint: '0911d5e1508e5462' });
  });

  it('frames records as C3 01, the little-endian CRC-64-AVRO fingerprint, then the Avro body', () => {
    const e = examples[1] as TraceEvent;
    const bytes = codec.encode(e, NOW);
    expect([...bytes.subarray(0, 2)]).toEqual([0xc3, 0x01]);
    expect(bytes.subarray(2, 10).toString('hex')).toBe('62548e50e1d51109');
    expect(bytes.readBigUInt64LE(2)).toBe(JAVA_FINGERPRINTS.traceEventV1);
    // The body is plain Avro binary any reader with the schema can decode.
    expect(v1.fromBuffer(bytes.subarray(10))).toMatchObject({ event_id: e.eventId, type: 'LLM_USAGE', cost_nanos: Number(MAX_EVENT_NANOS) });
  });

  it('round-trips any event the contract allows', () => {
    const text = fc.option(fc.string({ maxLength: 20 }));
    const eventArb = fc
      .record({
        eventId: fc.string({ minLength: 1, maxLength: 20 }),
        tenantId: fc.string({ minLength: 1, maxLength: 8 }),
        sessionId: fc.string({ minLength: 1, maxLength: 20 }),
        agentId: text,
        teamId: text,
        type: fc.constantFrom(...EVENT_TYPES),
        occurredAtMs: fc.integer({ min: Date.UTC(2000, 0, 1), max: NOW + 86_400_000 }),
        provider: text,
        model: text,
        inputTokens: fc.integer({ min: 0, max: 1e12 }),
        outputTokens: fc.integer({ min: 0, max: 1e12 }),
        cachedInputTokens: fc.integer({ min: 0, max: 1e12 }),
        reasoningTokens: fc.integer({ min: 0, max: 1e12 }),
        costNanos: fc.option(fc.bigInt({ min: 0n, max: MAX_EVENT_NANOS })),
        status: fc.constantFrom(...END_STATUSES),
        error: text,
        toolName: text,
        durationMs: fc.option(fc.nat()),
        voidsEventId: fc.string({ minLength: 1, maxLength: 20 }),
        reason: text,
      })
      .map((r): TraceEvent => ({ ...r, status: r.type === 'session.ended' ? r.status : null, voidsEventId: r.type === 'event.voided' ? r.voidsEventId : null }));
    fc.assert(
      fc.property(eventArb, fc.integer({ min: 0, max: NOW * 2 }), (e, ingestedAt) => {
        expect(codec.decode(codec.encode(e, ingestedAt))).toEqual({ event: e, ingestedAtMs: ingestedAt, writerFingerprint: codec.writerFingerprint });
      }),
      { numRuns: 200 },
    );
  });

  it('rejects bytes that are not single-object encoded', () => {
    const good = codec.encode(examples[0] as TraceEvent, NOW);
    for (const bytes of [
      Buffer.alloc(0),
      Buffer.from('{"event_id":"e1","type":"tool.call"}'),
      Buffer.from([0xc3, 0x00, ...good.subarray(2)]),
      Buffer.from([0x01, 0xc3, ...good.subarray(2)]),
      good.subarray(2),
      good.subarray(0, 9), // marker and a partial fingerprint
    ]) {
      expect(recordError(() => codec.decode(bytes)).code).toBe(RecordErrorCode.NotSingleObject);
    }
  });

  it('rejects a record naming a schema it does not know', () => {
    const good = codec.encode(examples[0] as TraceEvent, NOW);
    const alien = Buffer.from(good);
    alien.writeBigUInt64LE(JAVA_FINGERPRINTS.point, 2);
    const err = recordError(() => codec.decode(alien));
    expect(err.code).toBe(RecordErrorCode.UnknownFingerprint);
    expect(err.message).toContain('962c06f915bdc016');
    // A later version this reader was not given is unknown too.
    expect(recordError(() => codec.decode(new EventCodec(v2).encode(examples[0] as TraceEvent, NOW))).code).toBe(RecordErrorCode.UnknownFingerprint);
  });

  it('rejects a truncated or padded body as undecodable, keeping the cause', () => {
    const good = codec.encode(examples[1] as TraceEvent, NOW);
    for (const bytes of [good.subarray(0, 10), good.subarray(0, good.length - 1), good.subarray(0, 20), Buffer.concat([good, Buffer.from([0x00, 0x02])])]) {
      const err = recordError(() => codec.decode(bytes));
      expect(err.code).toBe(RecordErrorCode.Undecodable);
      expect(err.cause).toBeInstanceOf(Error);
    }
  });

  it('rejects records that decode but break the contract', () => {
    const broken: Record<string, unknown>[] = [
      { ...avroRecord(examples[0] as TraceEvent, NOW), type: 'UNKNOWN' },
      { ...avroRecord(examples[4] as TraceEvent, NOW), status: null },
      { ...avroRecord(examples[5] as TraceEvent, NOW), voids_event_id: null },
      { ...avroRecord(examples[1] as TraceEvent, NOW), input_tokens: -1 },
      { ...avroRecord(examples[1] as TraceEvent, NOW), cost_nanos: -5 },
      { ...avroRecord(examples[1] as TraceEvent, NOW), event_id: '' },
    ];
    for (const record of broken) {
      expect(recordError(() => codec.decode(frame(v1, record))).code, JSON.stringify(record)).toBe(RecordErrorCode.BreaksContract);
    }
    // The same framing with a valid record decodes, so the rejections above are about content.
    expect(codec.decode(frame(v1, avroRecord(examples[1] as TraceEvent, NOW))).event).toEqual(examples[1]);
  });
});

describe('schema evolution', () => {
  const v1Writer = new EventCodec(v1);
  const v2Writer = new EventCodec(v2);
  const v2Reader = new EventCodec(v2, [v1, v2], v2);
  const v1Reader = new EventCodec(v1, [v1, v2], v1);

  it('a v2 reader reads what v1 wrote (the new field takes its default)', () => {
    for (const e of examples) {
      expect(v2Reader.decode(v1Writer.encode(e, NOW))).toEqual({ event: e, ingestedAtMs: NOW, writerFingerprint: '0911d5e1508e5462' });
    }
  });

  it('a v1 reader reads what v2 wrote (the new field is skipped)', () => {
    for (const e of examples) {
      const bytes = v2Writer.encode(e, NOW);
      expect(bytes.readBigUInt64LE(2)).toBe(JAVA_FINGERPRINTS.traceEventV2Fixture);
      expect(v1Reader.decode(bytes)).toEqual({ event: e, ingestedAtMs: NOW, writerFingerprint: '44b9b7259458c063' });
    }
    // Including a record where the new field carries a value.
    const withTrace = frame(v2, { ...avroRecord(examples[3] as TraceEvent, NOW), trace_id: 'trace-42' });
    expect(v1Reader.decode(withTrace).event).toEqual(examples[3]);
    expect(v2Reader.decode(withTrace).event).toEqual(examples[3]);
  });
});
