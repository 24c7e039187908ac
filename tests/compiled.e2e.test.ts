import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { DEFAULT_TENANT } from '@traceledger/core';
import { freePort } from './helpers/faults/ports.js';
import { ROOT, msg, spawnService, type LogLine } from './helpers/faults/processes.js';
import { EventFactory } from './helpers/faults/traffic.js';
import { createFaultWorld, printProcessLogsOnFailure } from './helpers/faults/world.js';
import { rawNumber } from './helpers/pipeline.js';

// Production runs compiled JavaScript: `npm run build` (tsc -b into each package's dist/), then
// `node --conditions=compiled services/<name>/dist/main.js`, with no tsx. A workspace import that
// still resolved to TypeScript would crash the process at start; a file read relative to the code
// (schemas, migrations, prices, the dashboard's page) that moved would fail its first request.
printProcessLogsOnFailure();

const listening = (l: LogLine) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at');

describe('the compiled services', () => {
  it('build with tsc -b and run the whole pipeline without tsx', async () => {
    await promisify(execFile)('npx', ['tsc', '-b', 'tsconfig.build.json'], { cwd: ROOT, timeout: 240_000 });

    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl') });
    const [ingestPort, queryPort] = [await freePort(), await freePort()];
    const common = { DATABASE_URL: world.databaseUrl, AUTH_MODE: 'none' };
    const compiled = { compiled: true };
    const consumer = spawnService('consumer', world.consumerEnv({ MIGRATE_ON_START: 'true' }), 'consumer (compiled)', compiled);
    const ingest = spawnService('ingest', { ...common, KAFKA_BROKERS: world.brokers.join(','), KAFKA_TOPIC: world.topic, INGEST_PORT: String(ingestPort) }, 'ingest (compiled)', compiled);
    const query = spawnService('query', { ...common, QUERY_PORT: String(queryPort) }, 'query (compiled)', compiled);
    await Promise.all([
      consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 }),
      ingest.waitForLog(listening, { timeoutMs: 45_000, what: 'compiled ingest listening' }),
      query.waitForLog(listening, { timeoutMs: 45_000, what: 'compiled query listening' }),
    ]);
    // Every process runs from dist/.
    for (const p of [consumer, ingest, query]) expect(p.child.spawnargs.some((a) => a.endsWith('/dist/main.js')), p.name).toBe(true);

    const events = new EventFactory([DEFAULT_TENANT]).batch(40).events;
    const res = await fetch(`http://127.0.0.1:${ingestPort}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) });
    expect(res.status).toBe(202);
    await world.drained({ timeoutMs: 45_000 });

    let nanos = 0n;
    for (const e of events) if (typeof e['cost'] === 'string') nanos += BigInt((e['cost'] as string).replace('.', ''));
    const expected = `${nanos / 1_000_000_000n}.${String(nanos % 1_000_000_000n).padStart(9, '0')}`.replace(/\.?0+$/, '');
    const summary = await (await fetch(`http://127.0.0.1:${queryPort}/api/billing/summary`)).text();
    expect(rawNumber(summary, 'totalCost')).toBe(expected);
    // The dashboard's page files are found from dist/ too.
    const page = await fetch(`http://127.0.0.1:${queryPort}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/dashboard/dashboard.js');
    expect((await fetch(`http://127.0.0.1:${queryPort}/dashboard/uPlot.iife.min.js`)).status).toBe(200);

    for (const p of [ingest, query, consumer]) p.signal('SIGTERM');
    for (const p of [ingest, query, consumer]) expect((await p.exited).code, p.name).toBe(0);
  });
});
