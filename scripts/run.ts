/**
 * Runs the whole pipeline on this machine: a local Kafka broker when KAFKA_BROKERS is not set,
 * migrations, then the three services as child processes.
 *
 *   demo   posts a sample of sessions, waits until they are folded, prints the billing summary
 *          and the platform analytics (which must agree), then stops everything.
 *   stack  stays in the foreground with the services running until Ctrl-C (SIGINT/SIGTERM).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@traceledger/config';
import { createApiKey } from '@traceledger/auth';
import { createPool, migrate } from '@traceledger/db';
import { sampleSessions } from './sample-events.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2];
if (mode !== 'demo' && mode !== 'stack') {
  console.error('usage: run.ts demo|stack');
  process.exit(2);
}

const env = { ...process.env };
if (!env['KAFKA_BROKERS']) {
  const started = spawnSync('bash', [join(ROOT, 'scripts/kafka-local.sh'), 'start'], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (started.status !== 0) process.exit(started.status ?? 1);
  env['KAFKA_BROKERS'] = spawnSync('bash', [join(ROOT, 'scripts/kafka-local.sh'), 'brokers'], { encoding: 'utf8' }).stdout.trim();
}
const config = loadConfig(env);
const say = (msg: string): void => console.log(`traceledger: ${msg}`);

await migrate(config.databaseUrl);
// A development tenant with one ingest key and one query key, as an operator would make them
// with `bin/traceledger keys create`.
const DEV_TENANT = env['DEV_TENANT'] ?? 'dev';
const keyPool = createPool(config.databaseUrl, { max: 1 });
const ingestKey = await createApiKey(keyPool, { tenantId: DEV_TENANT, scopes: ['ingest'], label: `npm run ${mode}` });
const queryKey = await createApiKey(keyPool, { tenantId: DEV_TENANT, scopes: ['query'], label: `npm run ${mode}` });
await keyPool.end();
say(`database ready (${new URL(config.databaseUrl).pathname.slice(1)}), Kafka at ${config.kafkaBrokers.join(',')}, topic ${config.kafkaTopic}`);

const logDir = join(ROOT, '.tl-run');
mkdirSync(logDir, { recursive: true });
const children: ChildProcess[] = [];
for (const service of ['consumer', 'query', 'ingest'] as const) {
  // In demo mode the services' JSON logs go to files, so the answers stay readable.
  const out = mode === 'demo' ? openSync(join(logDir, `${service}.log`), 'w') : 'inherit';
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, `services/${service}/src/main.ts`)], {
    cwd: ROOT,
    env: { ...env, MIGRATE_ON_START: 'false' },
    stdio: ['ignore', out, out],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`traceledger: ${service} exited unexpectedly (code ${code}, signal ${signal}); see ${mode === 'demo' ? join(logDir, `${service}.log`) : 'the log above'}`);
      void stop(1);
    }
  });
  children.push(child);
}

let stopping = false;
async function stop(code: number): Promise<never> {
  stopping = true;
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          const kill = setTimeout(() => c.kill('SIGKILL'), 15_000);
          c.once('exit', () => {
            clearTimeout(kill);
            r();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
  process.exit(code);
}
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

const ingestUrl = `http://127.0.0.1:${config.ingestPort}`;
const queryUrl = `http://127.0.0.1:${config.queryPort}`;

async function waitUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  console.error(`traceledger: timed out waiting for ${what}`);
  return stop(1);
}

await waitUntil('the services to answer', 60_000, async () => {
  const [i, q] = await Promise.all([fetch(`${ingestUrl}/healthz`), fetch(`${queryUrl}/healthz`)]);
  return i.ok && q.ok ? true : undefined;
});
say(`ingest on ${ingestUrl}, query on ${queryUrl}`);

say(`tenant ${DEV_TENANT}: ingest key ${ingestKey.key}`);
say(`tenant ${DEV_TENANT}: query key  ${queryKey.key}`);
const ingestAuth = { authorization: `Bearer ${ingestKey.key}` };
const queryAuth = { authorization: `Bearer ${queryKey.key}` };

if (mode === 'stack') {
  say(`try: curl -H 'Authorization: Bearer ${queryKey.key}' ${queryUrl}/api/billing/summary`);
  say(`API documentation: ${queryUrl}/docs`);
  say('running; post events to POST /v1/events, read GET /api/billing/summary. Ctrl-C stops.');
} else {
  const before = await (await fetch(`${queryUrl}/api/analytics/platform?period=all`, { headers: queryAuth })).json() as { data: { totalSessions: number } };
  const sample = sampleSessions(25);
  const res = await fetch(`${ingestUrl}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...ingestAuth },
    body: JSON.stringify({ events: sample.events }),
  });
  if (res.status !== 202) {
    console.error(`traceledger: ingest answered ${res.status}: ${await res.text()}`);
    await stop(1);
  }
  say(`posted ${sample.events.length} events of ${sample.expected.sessions} sessions (cost ${sample.expected.cost}); waiting for the fold`);
  await waitUntil('the consumer to fold the sample', 60_000, async () => {
    const r = (await (await fetch(`${queryUrl}/api/analytics/platform?period=all`, { headers: queryAuth })).json()) as { data: { totalSessions: number } };
    return r.data.totalSessions >= before.data.totalSessions + sample.expected.sessions ? true : undefined;
  });
  const billing = await (await fetch(`${queryUrl}/api/billing/summary`, { headers: queryAuth })).text();
  const analytics = await (await fetch(`${queryUrl}/api/analytics/platform?period=all`, { headers: queryAuth })).text();
  const cost = (body: string): string => /"totalCost":(-?[\d.]+)/.exec(body)?.[1] ?? '?';
  console.log(`\nGET /api/billing/summary\n${billing}\n\nGET /api/analytics/platform?period=all\n${analytics}\n`);
  if (cost(billing) !== cost(analytics)) {
    console.error(`traceledger: billing says ${cost(billing)} but analytics says ${cost(analytics)}`);
    await stop(1);
  }
  say(`billing and analytics agree: totalCost ${cost(billing)}`);
  await stop(0);
}
