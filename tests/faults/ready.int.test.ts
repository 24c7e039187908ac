import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/faults/ports.js';
import { startPrivateKafka } from '../helpers/faults/private-kafka.js';
import { startPrivatePostgres } from '../helpers/faults/private-postgres.js';
import { msg, spawnService, type LogLine } from '../helpers/faults/processes.js';
import { createFaultWorld, printProcessLogsOnFailure } from '../helpers/faults/world.js';
import { waitFor } from '../helpers/world.js';

// /ready says whether a service's connections work now: Postgres stopped, then Kafka killed, on
// private servers (the shared ones are never stopped). /health stays 200 throughout: the process lives.
printProcessLogsOnFailure();

const listening = (l: LogLine) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at');

interface ReadyAnswer {
  status: number;
  checks: Record<string, string>;
}

async function ready(base: string): Promise<ReadyAnswer> {
  const res = await fetch(`${base}/ready`);
  return { status: res.status, checks: ((await res.json()) as { checks: Record<string, string> }).checks };
}

describe('/ready follows the connections of each service', () => {
  it('turns 503 naming Postgres, then Kafka, while each is away, and 200 when it is back', { tags: ['slow'] }, async () => {
    const [server, broker] = await Promise.all([startPrivatePostgres(), startPrivateKafka()]);
    const world = await createFaultWorld({ brokers: broker.brokers, adminDatabaseUrl: server.url('postgres') });
    const [ingestPort, queryPort, consumerPort] = [await freePort(), await freePort(), await freePort()];
    const common = { DATABASE_URL: world.databaseUrl, AUTH_MODE: 'none' };
    const ingest = spawnService('ingest', { ...common, KAFKA_BROKERS: world.brokers.join(','), KAFKA_TOPIC: world.topic, INGEST_PORT: String(ingestPort) });
    const query = spawnService('query', { ...common, QUERY_PORT: String(queryPort) });
    const consumer = spawnService('consumer', world.consumerEnv({ CONSUMER_PORT: String(consumerPort) }));
    await Promise.all([
      ingest.waitForLog(listening, { timeoutMs: 45_000, what: 'ingest listening' }),
      query.waitForLog(listening, { timeoutMs: 45_000, what: 'query listening' }),
      consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 }),
    ]);
    const urls = { ingest: `http://127.0.0.1:${ingestPort}`, query: `http://127.0.0.1:${queryPort}`, consumer: `http://127.0.0.1:${consumerPort}` };
    const all = Object.entries(urls);
    const withKafka = all.filter(([name]) => name !== 'query');

    for (const [name, base] of all) {
      const r = await ready(base);
      expect(r.status, name).toBe(200);
      expect(r.checks, name).toEqual(name === 'query' ? { postgres: 'ok' } : { postgres: 'ok', kafka: 'ok' });
    }

    const until = async (what: string, cond: () => Promise<boolean>) => waitFor(cond, { timeoutMs: 30_000, intervalMs: 200, what });

    // Postgres goes away: every service is not ready, and says why; each still lives.
    await server.stopImmediate();
    for (const [name, base] of all) {
      await until(`${name} /ready to turn 503`, async () => (await ready(base)).status === 503);
      const r = await ready(base);
      expect(r.checks['postgres'], name).not.toBe('ok');
      if (name !== 'query') expect(r.checks['kafka'], name).toBe('ok');
      expect((await fetch(`${base}/health`)).status, name).toBe(200);
    }
    // Meanwhile an OTLP export cannot record its trace: 503 with Retry-After, as OTLP/HTTP asks (UNAVAILABLE).
    const nowNs = `${Date.now()}000000`;
    const otlp = await fetch(`${urls.ingest}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '71699b6fe85982c7c8995ea3d9c95df2', spanId: '7c8995ea3d9c95df', startTimeUnixNano: nowNs, endTimeUnixNano: nowNs, attributes: [{ key: 'gen_ai.operation.name', value: { stringValue: 'chat' } }] }] }] }],
      }),
    });
    expect(otlp.status).toBe(503);
    expect(otlp.headers.get('retry-after')).not.toBeNull();
    expect(await otlp.json()).toEqual({ code: 14, message: expect.stringMatching(/^TL_INGEST_DATABASE_UNAVAILABLE: /) });
    await server.start();
    for (const [name, base] of all) await until(`${name} /ready to turn 200 after Postgres`, async () => (await ready(base)).status === 200);

    // Kafka goes away: ingest and the consumer are not ready; query does not use Kafka.
    await broker.kill();
    for (const [name, base] of withKafka) {
      await until(`${name} /ready to turn 503`, async () => (await ready(base)).status === 503);
      const r = await ready(base);
      expect(r.checks['kafka'], name).not.toBe('ok');
      expect(r.checks['postgres'], name).toBe('ok');
    }
    expect((await ready(urls.query)).status).toBe(200);
    await broker.start();
    for (const [name, base] of withKafka) await until(`${name} /ready to turn 200 after Kafka`, async () => (await ready(base)).status === 200);

    for (const p of [ingest, query, consumer]) {
      expect(p.running(), `${p.name} lived through both outages`).toBe(true);
      p.signal('SIGTERM');
    }
    for (const p of [ingest, query, consumer]) expect((await p.exited).code, p.name).toBe(0);
  });
});
