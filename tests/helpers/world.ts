import type { Authenticator } from '@traceledger/auth';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import pino from 'pino';
import { createPool, dropDatabase, migrate, type Pool } from '@traceledger/db';
import { createKafka, type KafkaPort } from '@traceledger/kafka';
import type { Logger } from '@traceledger/logging';
import { registerCleanup } from './cleanup.js';

/** A short random suffix for names that must not collide between tests or runs. */
export function uid(bytes = 5): string {
  return randomBytes(bytes).toString('hex');
}

/** A silent logger for tests that do not read logs (set TEST_LOG_LEVEL=debug to see them). */
export function testLogger(): Logger {
  return pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
}

/**
 * Waits until `check` returns a value other than undefined/false, polling every `intervalMs`
 * until `timeoutMs` has passed; then throws with the last error or value seen.
 */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 30_000, intervalMs = 100, what = 'condition' }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

/**
 * A fresh, migrated database of this test file's own, dropped after the file (after the test,
 * when called inside one; see ./cleanup.ts).
 */
export async function createTestDatabase(): Promise<{ url: string; pool: Pool }> {
  const admin = new URL(inject('adminDatabaseUrl'));
  admin.pathname = `/tl_test_${inject('runId')}_${uid()}`;
  const url = admin.toString();
  // Registered first, so it runs last and also when the migration fails half-way.
  registerCleanup(() => dropDatabase(url));
  await migrate(url);
  const pool = createPool(url, { max: 5, applicationName: 'traceledger-test' });
  registerCleanup(() => pool.end());
  return { url, pool };
}

/** Kafka brokers of the test run, and topic names of this test file's own. */
export async function createTestTopics(logger: Logger = testLogger()): Promise<{ brokers: string[]; kafka: KafkaPort; topic: string; deadLetterTopic: string; group: string }> {
  const brokers = inject('kafkaBrokers');
  const kafka = createKafka({ brokers, clientId: `tl-test-${uid()}`, logger });
  const id = uid();
  const topic = `tl-test-${inject('runId')}-${id}`;
  const deadLetterTopic = `${topic}.dlq`;
  await kafka.ensureTopics([
    { topic, partitions: 3 },
    { topic: deadLetterTopic, partitions: 1 },
  ]);
  return { brokers, kafka, topic, deadLetterTopic, group: `tl-test-group-${id}` };
}

/**
 * For tests that are about something other than keys: each request acts for the tenant named
 * in its `x-test-tenant` header, with every scope. (tests/auth.int.test.ts tests real keys.)
 */
export function headerTenant(header = 'x-test-tenant'): Authenticator {
  return {
    authenticate: async (headers) => {
      const v = headers[header];
      const tenantId = Array.isArray(v) ? v[0] : v;
      if (tenantId === undefined) throw new Error(`test request without ${header}`);
      return { tenantId, keyId: 'test', scopes: ['ingest', 'query', 'admin'] };
    },
  };
}
