import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_TENANT, type TraceEvent } from '@traceledger/core';
import type { InRecord } from '@traceledger/kafka';
import { startPipeline } from './helpers/pipeline.js';
import { uid, waitFor } from './helpers/world.js';

const p = await startPipeline();

function usage(sessionId: string, eventId: string): TraceEvent {
  return {
    eventId, tenantId: DEFAULT_TENANT, sessionId, agentId: 'dlq-agent', teamId: null, type: 'llm.usage',
    occurredAtMs: Date.now() - 1000, provider: 'openai', model: 'gpt-4o', inputTokens: 10, outputTokens: 5,
    cachedInputTokens: 0, reasoningTokens: 0, costNanos: 1_500_000n, status: null, error: null, toolName: null,
    durationMs: null, voidsEventId: null, reason: null,
  };
}

describe('records that cannot be read go to the dead-letter topic and consumption goes on', () => {
  it('dead-letters garbage, an unknown schema and a contract breach written straight to the topic, and folds the good record after them', async () => {
    const sessionId = `dlq-${uid()}`;
    const publisher = p.kafka.publisher();
    await publisher.connect();
    afterAll(() => publisher.disconnect());

    const good = p.codec.encode(usage(sessionId, `${sessionId}-good`), Date.now());
    const unknownSchema = Buffer.from(good);
    unknownSchema.writeBigUInt64LE(0x0123456789abcdefn, 2);
    // Negative tokens encode fine in Avro but break the contract.
    const breach = p.codec.encode({ ...usage(sessionId, `${sessionId}-breach`), inputTokens: -5 }, Date.now());
    // All on one key, so one partition, in this order: the good record comes last.
    await publisher.publish(p.topic, [
      { key: sessionId, value: Buffer.from('this is not avro') },
      { key: sessionId, value: unknownSchema },
      { key: sessionId, value: breach },
      { key: sessionId, value: good },
    ]);

    const row = await waitFor(async () => {
      const { rows } = await p.pool.query<{ event_count: number; cost: string }>(
        'SELECT event_count::int AS event_count, cost::text FROM trace_sessions WHERE session_id = $1',
        [sessionId],
      );
      return rows[0];
    }, { what: 'the good record to be folded' });
    expect(row).toEqual({ event_count: 1, cost: '0.001500000' });

    const dead: InRecord[] = [];
    const reader = p.kafka.consumer({ groupId: `dlq-reader-${uid()}` });
    await reader.start(p.deadLetterTopic, async (records) => {
      dead.push(...records);
    });
    afterAll(() => reader.stop());
    await waitFor(() => dead.length >= 3, { what: 'three dead letters' });
    const mine = dead.filter((r) => r.key?.toString() === sessionId);
    expect(mine).toHaveLength(3);
    expect(mine.map((r) => r.headers['tl-dlq-code'])).toEqual([
      'TL_RECORD_NOT_SINGLE_OBJECT',
      'TL_RECORD_UNKNOWN_FINGERPRINT',
      'TL_RECORD_BREAKS_CONTRACT',
    ]);
    for (const r of mine) {
      expect(r.headers['tl-source-topic']).toBe(p.topic);
      expect(r.headers['tl-source-offset']).toMatch(/^\d+$/);
      expect(r.headers['tl-dlq-reason']?.length).toBeGreaterThan(10);
    }
    // The dead letter keeps the original bytes, so it can be inspected and re-driven.
    expect(mine[0]?.value?.toString()).toBe('this is not avro');
  });
});
