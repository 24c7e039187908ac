import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMPTY_EVENT_FIELDS, END_STATUSES, EVENT_TYPES, MAX_EVENT_NANOS, TraceLedgerError, formatMoney, type EventType, type TraceEvent } from '@traceledger/core';
import { CHARACTER_CASES, JSON_STRING_FIELDS } from './__fixtures__/strings.js';
import { CURRENT_SCHEMA_FILE, EventCodec, SCHEMAS_DIR, parseSchema, schemaFingerprint, type DecodedEvent } from './codec.js';
import { crc64Avro, fingerprintBytesLE } from './crc64.js';
import { EventErrorCode, EventRejectedError, RecordErrorCode, RecordRejectedError } from './errors.js';
import { LIMITS, STRING_FIELDS, stringBreach, type StringField } from './rules.js';
import { parseEvent } from './validate.js';

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
    expect(codec.decode(bytes, NOW)).toEqual({ event: e, ingestedAtMs: NOW, writerFingerprint: '0911d5e1508e5462' });
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

  it('round-trips any event the contract allows, exactly', () => {
    // Any code point (surrogate pairs included); values the rules refuse are left out here and
    // tried on their own below.
    const str = (minLength: number, maxLength: number, field: StringField) =>
      fc.string({ unit: 'binary', minLength, maxLength }).filter((v) => stringBreach(field, v) === null);
    const opt = (field: StringField) => fc.option(str(0, 20, field));
    const eventArb = fc
      .record({
        eventId: str(1, 20, 'event_id'),
        tenantId: str(1, 8, 'tenant_id'),
        sessionId: str(1, 20, 'session_id'),
        agentId: opt('agent_id'),
        teamId: opt('team_id'),
        type: fc.constantFrom(...EVENT_TYPES),
        ingestedAtMs: fc.integer({ min: LIMITS.minOccurredAtMs, max: NOW + LIMITS.maxFutureMs }),
        occurredAfterIngestMs: fc.integer({ min: -30 * 86_400_000, max: LIMITS.maxFutureMs + LIMITS.recordClockSlackMs }),
        provider: opt('provider'),
        model: opt('model'),
        inputTokens: fc.integer({ min: 0, max: LIMITS.maxTokens }),
        outputTokens: fc.integer({ min: 0, max: LIMITS.maxTokens }),
        cachedInputTokens: fc.integer({ min: 0, max: LIMITS.maxTokens }),
        reasoningTokens: fc.integer({ min: 0, max: LIMITS.maxTokens }),
        costNanos: fc.option(fc.bigInt({ min: 0n, max: MAX_EVENT_NANOS })),
        status: fc.constantFrom(...END_STATUSES),
        error: opt('error'),
        toolName: opt('tool_name'),
        durationMs: fc.option(fc.integer({ min: 0, max: LIMITS.maxDurationMs })),
        voidsEventId: str(1, 20, 'voids_event_id'),
        reason: opt('reason'),
      })
      .map(({ ingestedAtMs, occurredAfterIngestMs, ...r }) => {
        const only = <T,>(type: EventType, v: T, none: T): T => (r.type === type ? v : none);
        const e: TraceEvent = {
          ...r,
          agentId: r.type === 'event.voided' ? r.agentId : (r.agentId ?? 'agent'),
          occurredAtMs: Math.max(LIMITS.minOccurredAtMs, ingestedAtMs + occurredAfterIngestMs),
          provider: only('llm.usage', r.provider, null),
          model: only('llm.usage', r.model, null),
          inputTokens: only('llm.usage', r.inputTokens, 0),
          outputTokens: only('llm.usage', r.outputTokens, 0),
          cachedInputTokens: only('llm.usage', r.cachedInputTokens, 0),
          reasoningTokens: only('llm.usage', r.reasoningTokens, 0),
          costNanos: only('llm.usage', r.costNanos, null),
          toolName: only('tool.call', r.toolName, null),
          durationMs: only('tool.call', r.durationMs, null),
          status: only('session.ended', r.status, null),
          error: only('session.ended', r.error, null),
          voidsEventId: r.type === 'event.voided' && r.voidsEventId !== r.eventId ? r.voidsEventId : r.type === 'event.voided' ? `${r.voidsEventId}-other` : null,
          reason: only('event.voided', r.reason, null),
        };
        return { e, ingestedAtMs };
      });
    fc.assert(
      fc.property(eventArb, ({ e, ingestedAtMs }) => {
        expect(codec.decode(codec.encode(e, ingestedAtMs), NOW)).toEqual({ event: e, ingestedAtMs, writerFingerprint: codec.writerFingerprint });
      }),
      { numRuns: 300 },
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
      expect(recordError(() => codec.decode(frame(v1, record), NOW)).code, JSON.stringify(record)).toBe(RecordErrorCode.BreaksContract);
    }
    // The same framing with a valid record decodes, so the rejections above are about content.
    expect(codec.decode(frame(v1, avroRecord(examples[1] as TraceEvent, NOW)), NOW).event).toEqual(examples[1]);
  });
});

/** The domain event that carries each string field (the voided example has no agent). */
function carrierOf(field: StringField): TraceEvent {
  if (field === 'tool_name') return examples[3] as TraceEvent;
  if (field === 'error') return examples[4] as TraceEvent;
  if (field === 'voids_event_id' || field === 'reason') return examples[5] as TraceEvent;
  return examples[1] as TraceEvent;
}

/** v1 read with strings as their raw bytes, to write bytes no JavaScript string encodes to. */
const v1Bytes = avro.Type.forSchema(v1.schema() as avro.Schema, {
  typeHook: (schema) => (schema === 'string' ? avro.Type.forSchema('bytes') : undefined),
});
/** v1 with longs as bigint, to write the longs avsc's own long type refuses. */
const bigLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint | number) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (n: number) => BigInt(n),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint' || typeof n === 'number',
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});
const v1BigLongs = avro.Type.forSchema(v1.schema() as avro.Schema, {
  typeHook: (schema) => (schema === 'long' || (typeof schema === 'object' && !Array.isArray(schema) && (schema as { type?: unknown }).type === 'long') ? bigLong : undefined),
});
const STRING_NAMES = Object.keys(STRING_FIELDS) as StringField[];

/** A v1 record whose body `bodyType` writes (the same wire format as v1, other values in memory). */
function frameAs(bodyType: avro.Type, record: Record<string, unknown>): Buffer {
  return Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytesLE(schemaFingerprint(v1)), bodyType.toBuffer(record)]);
}

/** A record with every string as its UTF-8 bytes, for v1Bytes. */
function asBytes(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, typeof v === 'string' && k !== 'type' && k !== 'status' ? Buffer.from(v, 'utf8') : v]));
}
const LONG_FIELDS = ['occurred_at', 'ingested_at', 'input_tokens', 'output_tokens', 'cached_input_tokens', 'reasoning_tokens', 'cost_nanos', 'duration_ms'] as const;

/** The breach a record gives, as a RecordRejectedError (any other error fails the test). */
function breach(bytes: Buffer, nowMs = NOW): RecordRejectedError {
  const err = recordError(() => v1Codec.decode(bytes, nowMs));
  expect(err, err.message).toBeInstanceOf(RecordRejectedError);
  expect(err.code).toBe(RecordErrorCode.BreaksContract);
  return err as RecordRejectedError;
}

const v1Codec = EventCodec.fromDirectory();

describe('decode checks what ingest checks: every string field, every kind of character', () => {
  const grid = STRING_NAMES.flatMap((field) => CHARACTER_CASES.map((c) => ({ field, kind: STRING_FIELDS[field], ...c })));

  it.each(grid.filter((g) => g.badFor.includes(g.kind)))('$field with $name, written by a raw avsc writer: TL_RECORD_BREAKS_CONTRACT naming it', ({ field, value }) => {
    const record = { ...avroRecord(carrierOf(field), NOW), [field]: value };
    const err = breach(frame(v1, record));
    expect(err.field).toBe(field);
    expect(err.message).toContain(`${field} `);
  });

  it.each(grid.filter((g) => !g.badFor.includes(g.kind)))('$field with $name: decoded exactly', ({ field, value }) => {
    const decoded = v1Codec.decode(frame(v1, { ...avroRecord(carrierOf(field), NOW), [field]: value }), NOW);
    expect(avroRecord(decoded.event, NOW)[field]).toBe(value);
  });

  it('a lone surrogate written by avsc never comes back as itself: as bytes that are not UTF-8, or as U+FFFD', () => {
    // What avsc 5.7 does on its own: short strings get the surrogate's three bytes (ED A0 80, not
    // UTF-8), strings over 64 bytes go through Buffer#utf8Write, which writes U+FFFD. Either way
    // the text changed: this is why ingest refuses lone surrogates.
    const str = avro.Type.forSchema('string');
    expect(str.toBuffer('a\ud800').subarray(1).toString('hex')).toBe('61eda080');
    expect(str.fromBuffer(str.toBuffer('a\ud800'))).not.toBe('a\ud800');
    expect(str.fromBuffer(str.toBuffer(`${'x'.repeat(70)}\ud800`))).toBe(`${'x'.repeat(70)}\ufffd`);
  });

  it.each(STRING_NAMES)('%s holding bytes that are not UTF-8: breaks the contract, naming the field', (field) => {
    const base = asBytes(avroRecord(carrierOf(field), NOW));
    // 0xFF; a broken two-byte sequence; a UTF-16 surrogate as three bytes (CESU-8); NUL as C0 80
    // (Java's modified UTF-8); a sequence cut short; a code point past U+10FFFF.
    for (const bytes of [[0xff], [0x61, 0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]]) {
      const err = breach(frameAs(v1Bytes, { ...base, [field]: Buffer.from(bytes) }));
      expect([err.field, err.rule], Buffer.from(bytes).toString('hex')).toEqual([field, EventErrorCode.BadText]);
      expect(err.message).toMatch(/not UTF-8/);
    }
    // The UTF-8 of U+FFFD itself is a character like any other.
    const decoded = v1Codec.decode(frameAs(v1Bytes, { ...base, [field]: Buffer.from('a\ufffd', 'utf8') }), NOW);
    expect(avroRecord(decoded.event, NOW)[field]).toBe('a\ufffd');
  });

  it.each(STRING_NAMES)('%s: the same length limit as ingest, in characters', (field) => {
    const kind = STRING_FIELDS[field];
    const max = kind === 'id' ? LIMITS.idMaxChars : kind === 'name' ? LIMITS.nameMaxChars : LIMITS.textMaxChars;
    const ok = '\u{1f600}'.repeat(max);
    expect(avroRecord(v1Codec.decode(frame(v1, { ...avroRecord(carrierOf(field), NOW), [field]: ok }), NOW).event, NOW)[field]).toBe(ok);
    const err = breach(frame(v1, { ...avroRecord(carrierOf(field), NOW), [field]: `${ok}x` }));
    expect([err.field, err.message]).toEqual([field, `${field === 'event_id' ? 'record' : `event "${carrierOf(field).eventId}"`} breaks contract v1: ${field} is longer than ${max} characters`]);
  });

  it('ids must be non-empty, without surrounding white space, on the topic too', () => {
    for (const field of STRING_NAMES.filter((f) => STRING_FIELDS[f] === 'id')) {
      for (const value of ['', ' x', 'x\u00a0']) {
        expect(breach(frame(v1, { ...avroRecord(carrierOf(field), NOW), [field]: value })).field, `${field}=${JSON.stringify(value)}`).toBe(field);
      }
    }
  });

  it('the JSON path and the topic path agree on any string', () => {
    const nasty = fc.constantFrom('a', 'é', '\u{1f600}', ' ', '\u0000', '\u0007', '\t', '\n', '\r', '\u007f', '\u0085', '\ud800', '\udfff', '\ufffd', '\ufeff');
    const fields = Object.keys(JSON_STRING_FIELDS) as (keyof typeof JSON_STRING_FIELDS)[];
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.string({ unit: nasty, maxLength: 12 }), (field, value) => {
        const carrier = carrierOf(field);
        const json = { ...jsonOf(carrier), [field]: value };
        let viaJson: string | null = null;
        try {
          parseEvent(json, carrier.tenantId, NOW);
        } catch (err) {
          viaJson = (err as EventRejectedError).field ?? '?';
        }
        let viaTopic: string | null = null;
        try {
          v1Codec.decode(frame(v1, { ...avroRecord(carrier, NOW), [field]: value }), NOW);
        } catch (err) {
          expect(err).toBeInstanceOf(RecordRejectedError);
          viaTopic = (err as RecordRejectedError).field;
        }
        expect(viaTopic, JSON.stringify(value)).toBe(viaJson);
      }),
      { numRuns: 2000 },
    );
  });
});

/** The JSON a producer would post for a domain event. */
function jsonOf(e: TraceEvent): Record<string, unknown> {
  const { tenant_id: _t, ingested_at: _i, cost_nanos: _c, type: _type, status: _s, occurred_at: _o, ...rest } = avroRecord(e, NOW);
  const json: Record<string, unknown> = { type: e.type, occurred_at: new Date(e.occurredAtMs).toISOString(), status: e.status, cost: e.costNanos === null ? null : formatMoney(e.costNanos) };
  for (const [k, v] of Object.entries(rest)) if (!(k.endsWith('_tokens') && e.type !== 'llm.usage')) json[k] = v;
  return Object.fromEntries(Object.entries(json).filter(([, v]) => v !== null));
}

describe('decode checks what ingest checks: bounds, times and shape', () => {
  const usage = examples[1] as TraceEvent;
  const rec = (e: TraceEvent, over: Record<string, unknown> = {}, ingestedAt = NOW) => frame(v1, { ...avroRecord(e, ingestedAt), ...over });
  const accepted = (bytes: Buffer, nowMs = NOW) => v1Codec.decode(bytes, nowMs).event;

  it.each([
    { name: 'tokens over 10^12', over: { input_tokens: LIMITS.maxTokens + 1 }, field: 'input_tokens', rule: EventErrorCode.BadTokens },
    { name: 'negative reasoning tokens', over: { reasoning_tokens: -1 }, field: 'reasoning_tokens', rule: EventErrorCode.BadTokens },
    { name: 'a cost over 1,000,000', over: { cost_nanos: Number(MAX_EVENT_NANOS) + 1 }, field: 'cost_nanos', rule: EventErrorCode.BadCost },
    { name: 'a negative cost', over: { cost_nanos: -1 }, field: 'cost_nanos', rule: EventErrorCode.BadCost },
    { name: 'occurred_at before 2000', over: { occurred_at: LIMITS.minOccurredAtMs - 1 }, field: 'occurred_at', rule: EventErrorCode.BadTime },
    { name: 'occurred_at at -2^52', over: { occurred_at: -(2 ** 52) }, field: 'occurred_at', rule: EventErrorCode.BadTime },
    { name: 'occurred_at past what a Date holds (new Date(x).toISOString() would throw RangeError)', over: { occurred_at: 8.64e15 + 1 }, field: 'occurred_at', rule: EventErrorCode.FutureTime },
    { name: 'occurred_at 25 h + 1 ms after ingested_at', over: { occurred_at: NOW + LIMITS.maxFutureMs + LIMITS.recordClockSlackMs + 1 }, field: 'occurred_at', rule: EventErrorCode.FutureTime },
    { name: 'ingested_at before 2000 (seconds, not ms)', over: { ingested_at: Math.floor(NOW / 1000), occurred_at: Math.floor(NOW / 1000) }, field: 'ingested_at', rule: EventErrorCode.BadTime },
    { name: 'ingested_at of 0', over: { ingested_at: 0 }, field: 'ingested_at', rule: EventErrorCode.BadTime },
    { name: "ingested_at more than 24 h ahead of the reader's clock", over: { ingested_at: NOW + LIMITS.maxFutureMs + 1 }, field: 'ingested_at', rule: EventErrorCode.FutureTime },
    { name: 'ingested_at at 2^53 - 2', over: { ingested_at: 9_007_199_254_740_990 }, field: 'ingested_at', rule: EventErrorCode.FutureTime },
    { name: 'no agent on a usage event', over: { agent_id: null }, field: 'agent_id', rule: EventErrorCode.MissingField },
    { name: 'a status on a usage event', over: { status: 'SUCCESS' }, field: 'status', rule: EventErrorCode.FieldNotForType },
    { name: 'a tool name on a usage event', over: { tool_name: 'x' }, field: 'tool_name', rule: EventErrorCode.FieldNotForType },
  ])('$name: $rule on $field', ({ over, field, rule }) => {
    const err = breach(rec(usage, over));
    expect([err.field, err.rule]).toEqual([field, rule]);
    expect(err.message).toContain(field);
  });

  it.each([
    { name: 'tokens on a tool call', e: examples[3], over: { input_tokens: 5 }, field: 'input_tokens', rule: EventErrorCode.FieldNotForType },
    { name: 'a cost on a session start', e: examples[0], over: { cost_nanos: 0 }, field: 'cost_nanos', rule: EventErrorCode.FieldNotForType },
    { name: 'a duration over a year', e: examples[3], over: { duration_ms: LIMITS.maxDurationMs + 1 }, field: 'duration_ms', rule: EventErrorCode.BadDuration },
    { name: 'a negative duration', e: examples[3], over: { duration_ms: -1 }, field: 'duration_ms', rule: EventErrorCode.BadDuration },
    { name: 'an end without status', e: examples[4], over: { status: null }, field: 'status', rule: EventErrorCode.BadStatus },
    { name: 'a void naming no event', e: examples[5], over: { voids_event_id: null }, field: 'voids_event_id', rule: EventErrorCode.MissingField },
    { name: 'a void of itself', e: examples[5], over: { voids_event_id: (examples[5] as TraceEvent).eventId }, field: 'voids_event_id', rule: EventErrorCode.BadId },
    { name: 'a reason on a usage event', e: examples[1], over: { reason: 'x' }, field: 'reason', rule: EventErrorCode.FieldNotForType },
    { name: 'the UNKNOWN type (a later version)', e: examples[0], over: { type: 'UNKNOWN' }, field: 'type', rule: EventErrorCode.BadType },
  ])('$name: $rule on $field', ({ e, over, field, rule }) => {
    const err = breach(rec(e as TraceEvent, over));
    expect([err.field, err.rule]).toEqual([field, rule]);
  });

  it('accepts each bound itself', () => {
    expect(accepted(rec(usage, { input_tokens: LIMITS.maxTokens, cost_nanos: Number(MAX_EVENT_NANOS) }))).toMatchObject({ inputTokens: LIMITS.maxTokens, costNanos: MAX_EVENT_NANOS });
    expect(accepted(rec(usage, { occurred_at: LIMITS.minOccurredAtMs }))).toMatchObject({ occurredAtMs: LIMITS.minOccurredAtMs });
    const latest = NOW + LIMITS.maxFutureMs + LIMITS.recordClockSlackMs;
    expect(accepted(rec(usage, { occurred_at: latest }))).toMatchObject({ occurredAtMs: latest });
    expect(v1Codec.decode(rec(usage, { ingested_at: NOW + LIMITS.maxFutureMs }), NOW).ingestedAtMs).toBe(NOW + LIMITS.maxFutureMs);
    expect(accepted(rec(examples[3] as TraceEvent, { duration_ms: LIMITS.maxDurationMs }))).toMatchObject({ durationMs: LIMITS.maxDurationMs });
    // An old record stays readable: ingested_at is only bounded above by the reader's clock.
    expect(v1Codec.decode(rec(usage, { ingested_at: LIMITS.minOccurredAtMs, occurred_at: LIMITS.minOccurredAtMs }), NOW).ingestedAtMs).toBe(LIMITS.minOccurredAtMs);
  });

  it('bounds ingested_at by the reader clock it is given, Date.now() by default', () => {
    const ahead = rec(usage, {}, Date.now() + LIMITS.maxFutureMs + 60_000);
    expect(breach(ahead, Date.now()).field).toBe('ingested_at');
    expect(recordError(() => v1Codec.decode(ahead)).code).toBe(RecordErrorCode.BreaksContract);
    expect(v1Codec.decode(ahead, Date.now() + 120_000).event.eventId).toBe(usage.eventId);
  });

  it('ingest and the topic agree on every event ingest accepts: what parseEvent returns decodes to itself', () => {
    for (const e of examples) {
      const again = parseEvent(jsonOf(e), e.tenantId, NOW);
      expect(v1Codec.decode(v1Codec.encode(again, NOW), NOW).event).toEqual(again);
    }
  });
});

describe('longs beyond 2^53', () => {
  const usage = examples[1] as TraceEvent;
  const big = (field: (typeof LONG_FIELDS)[number], value: bigint): Buffer =>
    frameAs(v1BigLongs, { ...avroRecord(field === 'duration_ms' ? (examples[3] as TraceEvent) : usage, NOW), [field]: value });

  it("avsc's own long type refuses them rather than lose precision (it throws 'potential precision loss')", () => {
    const body = big('input_tokens', 2n ** 60n).subarray(10);
    expect(() => v1.fromBuffer(body)).toThrow(/precision/);
    // Its bound is 2^53 - 2, one short of Number.MAX_SAFE_INTEGER.
    expect(() => v1.fromBuffer(big('input_tokens', 9_007_199_254_740_991n).subarray(10))).toThrow(/precision/);
    expect((v1.fromBuffer(big('input_tokens', 9_007_199_254_740_990n).subarray(10)) as { input_tokens: number }).input_tokens).toBe(9_007_199_254_740_990);
  });

  it('avsc misreads a negative long below -2^52 (its zigzag arithmetic is in floats): the value is far out of bounds either way', () => {
    // -(2^52 + 1) zigzags to 2^53 + 1, which a double rounds to 2^53: avsc reads +2^52.
    const body = big('input_tokens', -(2n ** 52n) - 1n).subarray(10);
    expect((v1.fromBuffer(body) as { input_tokens: number }).input_tokens).toBe(2 ** 52);
    // Every bound of the contract is far below 2^52, so such a record is refused whatever avsc reads.
    for (const field of LONG_FIELDS) expect(breach(big(field, -(2n ** 52n) - 1n)).field).toBe(field);
  });

  it.each(LONG_FIELDS)('%s beyond 2^53: TL_RECORD_BREAKS_CONTRACT naming the field, not TL_RECORD_UNDECODABLE', (field) => {
    for (const value of [2n ** 53n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n), 9_007_199_254_740_991n]) {
      const err = breach(big(field, value));
      expect(err.field, String(value)).toBe(field);
      expect(err.message).toContain(`${field} is ${value}`);
    }
  });
});

describe('decode throws nothing but TraceLedgerError', () => {
  const good = v1Codec.encode(examples[1] as TraceEvent, NOW);

  it('for any record avsc can write with the schema; and what it accepts, ingest accepts too', () => {
    const nasty = fc.constantFrom('a', 'é', '\u{1f600}', ' ', '\u0000', '\u0007', '\t', '\n', '\u007f', '\u0085', '\ud800', '\udfff', '\ufffd');
    const str = fc.string({ unit: nasty, maxLength: 8 });
    const long = fc.oneof(
      fc.constantFrom(0, 1, -1, LIMITS.minOccurredAtMs, NOW, NOW + LIMITS.maxFutureMs, LIMITS.maxTokens + 1, 8.64e15 + 1, 9_007_199_254_740_990, -9_007_199_254_740_990),
      fc.bigInt({ min: -9_007_199_254_740_990n, max: 9_007_199_254_740_990n }).map(Number),
    );
    const record = fc.record({
      event_id: str,
      tenant_id: str,
      session_id: str,
      agent_id: fc.option(str),
      team_id: fc.option(str),
      type: fc.constantFrom('UNKNOWN', 'SESSION_STARTED', 'LLM_USAGE', 'TOOL_CALL', 'SESSION_ENDED', 'EVENT_VOIDED'),
      occurred_at: long,
      ingested_at: long,
      provider: fc.option(str),
      model: fc.option(str),
      input_tokens: long,
      output_tokens: long,
      cached_input_tokens: long,
      reasoning_tokens: long,
      cost_nanos: fc.option(long),
      status: fc.option(fc.constantFrom('SUCCESS', 'ERROR', 'TIMEOUT', 'CANCELLED')),
      error: fc.option(str),
      tool_name: fc.option(str),
      duration_ms: fc.option(long),
      voids_event_id: fc.option(str),
      reason: fc.option(str),
    });
    fc.assert(
      fc.property(record, (r) => {
        let decoded: DecodedEvent;
        try {
          decoded = v1Codec.decode(frame(v1, r), NOW);
        } catch (err) {
          expect(err).toBeInstanceOf(TraceLedgerError);
          return;
        }
        const { event, ingestedAtMs } = decoded;
        expect(parseEvent(jsonOf(event), event.tenantId, ingestedAtMs + LIMITS.recordClockSlackMs)).toEqual(event);
      }),
      { numRuns: 3000 },
    );
  });

  it('for any bytes after a known header, and for a good record with bytes changed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (tail, flips) => {
        const changed = Buffer.from(good);
        for (const [at, byte] of flips) changed[10 + (at % (changed.length - 10))] = byte;
        for (const bytes of [Buffer.concat([good.subarray(0, 10), tail]), changed]) {
          try {
            v1Codec.decode(bytes, NOW);
          } catch (err) {
            expect(err).toBeInstanceOf(TraceLedgerError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('schema evolution', () => {
  const v1Writer = new EventCodec(v1);
  const v2Writer = new EventCodec(v2);
  const v2Reader = new EventCodec(v2, [v1, v2], v2);
  const v1Reader = new EventCodec(v1, [v1, v2], v1);

  it('a v2 reader reads what v1 wrote (the new field takes its default)', () => {
    for (const e of examples) {
      expect(v2Reader.decode(v1Writer.encode(e, NOW), NOW)).toEqual({ event: e, ingestedAtMs: NOW, writerFingerprint: '0911d5e1508e5462' });
    }
  });

  it('a v1 reader reads what v2 wrote (the new field is skipped)', () => {
    for (const e of examples) {
      const bytes = v2Writer.encode(e, NOW);
      expect(bytes.readBigUInt64LE(2)).toBe(JAVA_FINGERPRINTS.traceEventV2Fixture);
      expect(v1Reader.decode(bytes, NOW)).toEqual({ event: e, ingestedAtMs: NOW, writerFingerprint: '44b9b7259458c063' });
    }
    // Including a record where the new field carries a value.
    const withTrace = frame(v2, { ...avroRecord(examples[3] as TraceEvent, NOW), trace_id: 'trace-42' });
    expect(v1Reader.decode(withTrace, NOW).event).toEqual(examples[3]);
    expect(v2Reader.decode(withTrace, NOW).event).toEqual(examples[3]);
  });
});
