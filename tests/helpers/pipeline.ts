import { fixedTenant, type Authenticator } from '@traceledger/auth';
import type { Logger } from '@traceledger/logging';
import { DEFAULT_TENANT } from '@traceledger/core';
import type { FastifyInstance } from 'fastify';
import { EventCodec } from '@traceledger/contract';
import { bookPricing, readPriceFiles, storePriceEntries, type Pool } from '@traceledger/db';
import type { KafkaPort } from '@traceledger/kafka';
import { buildIngestApp, type IngestOptions } from '@traceledger/ingest';
import { buildConsumerService } from '@traceledger/consumer';
import { buildQueryApp } from '@traceledger/query';
import { registerCleanup } from './cleanup.js';
import { createTestDatabase, createTestTopics, testLogger, waitFor } from './world.js';

export interface Pipeline {
  ingest: FastifyInstance;
  query: FastifyInstance;
  pool: Pool;
  kafka: KafkaPort;
  codec: EventCodec;
  topic: string;
  deadLetterTopic: string;
  group: string;
  /** Waits until the consumer group has committed everything on the topic. */
  drained(timeoutMs?: number): Promise<void>;
}

/**
 * The whole pipeline in this process, on the real broker and a database of its own: ingest and
 * query apps (called through inject, no socket) and a consumer group member on a fresh topic.
 * Everything is closed after the test file (after the test, when called inside one; see ./cleanup.ts).
 */
export async function startPipeline(
  options: { auth?: (pool: Pool) => Authenticator; logger?: Logger; ingestOptions?: Partial<IngestOptions>; now?: () => number } = {},
): Promise<Pipeline> {
  const logger = options.logger ?? testLogger();
  const { pool } = await createTestDatabase();
  const { kafka, topic, deadLetterTopic, group } = await createTestTopics(logger);
  const codec = EventCodec.fromDirectory();
  const publisher = kafka.publisher();
  registerCleanup(() => publisher.disconnect());
  await publisher.connect();
  const ingest = buildIngestApp(
    { publisher, codec, logger, pool, auth: options.auth?.(pool) ?? fixedTenant(DEFAULT_TENANT), ...(options.now ? { now: options.now } : {}) },
    { topic, maxBodyBytes: 1_048_576, maxBatchEvents: 10_000, retryAfterSeconds: 5, ...options.ingestOptions },
  );
  registerCleanup(() => ingest.close());
  // The repository's price book, loaded as the consumer's main does.
  await storePriceEntries(pool, readPriceFiles());
  const consumer = buildConsumerService(
    { consumer: kafka.consumer({ groupId: group }), deadLetters: kafka.publisher(), pool, codec, logger, pricing: bookPricing() },
    { topic, deadLetterTopic },
  );
  registerCleanup(() => consumer.stop());
  await consumer.start();
  const query = await buildQueryApp({ pool, logger, auth: options.auth?.(pool) ?? fixedTenant(DEFAULT_TENANT) });
  registerCleanup(() => query.close());
  return {
    ingest,
    query,
    pool,
    kafka,
    codec,
    topic,
    deadLetterTopic,
    group,
    async drained(timeoutMs = 30_000) {
      await waitFor(async () => (await kafka.consumerLag(group, topic)) === 0, { timeoutMs, intervalMs: 200, what: `group ${group} to drain ${topic}` });
    },
  };
}

/** The text of a JSON number in a response body, digit for digit (JSON.parse would round it). */
export function rawNumber(body: string, key: string): string {
  const m = new RegExp(`"${key}":(-?\\d+(?:\\.\\d+)?)`).exec(body);
  if (!m?.[1]) throw new Error(`no number "${key}" in ${body}`);
  return m[1];
}
