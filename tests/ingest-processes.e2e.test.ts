import { request } from 'node:http';
import { describe, expect, inject, it } from 'vitest';
import { freePort } from './helpers/faults/ports.js';
import { msg, spawnService, type LogLine } from './helpers/faults/processes.js';
import { createFaultWorld, printProcessLogsOnFailure } from './helpers/faults/world.js';
import { parsePrometheus } from './helpers/metrics.js';

// INGEST_PROCESSES=2: one primary and two worker processes on one port (node:cluster). Each new
// connection goes to the next worker, so requests on fresh connections alternate between them;
// /metrics, whichever worker answers, counts the traffic of both; a worker that dies is replaced
// while the other serves; SIGTERM drains both and the primary exits 0 with no worker left.

printProcessLogsOnFailure();
const listening = (l: LogLine) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at');

/** One request on a connection of its own (no keep-alive agent): the cluster hands it to the next worker. */
function freshRequest(port: number, method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('ingest with INGEST_PROCESSES=2', () => {
  it('serves from two workers on one port, sums /metrics over both, replaces a dead worker and drains both on SIGTERM', async ({ annotate }) => {
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl') });
    const port = await freePort();
    const ingest = spawnService('ingest', {
      DATABASE_URL: world.databaseUrl,
      KAFKA_BROKERS: world.brokers.join(','),
      KAFKA_TOPIC: world.topic,
      INGEST_PORT: String(port),
      AUTH_MODE: 'none',
      INGEST_PROCESSES: '2',
    });
    await ingest.waitForLog(msg('primary started its workers'), { timeoutMs: 30_000 });
    const workersListening = async (n: number) => {
      for (let i = 0; i < 600 && ingest.logs.filter(listening).length < n; i++) await new Promise((r) => setTimeout(r, 100));
      return ingest.logs.filter(listening).map((l) => Number(l['pid']));
    };
    const workers = await workersListening(2);
    expect(workers).toHaveLength(2);
    expect(new Set([...workers, ingest.pid]).size).toBe(3);

    let n = 0;
    const post = async (events: number) => {
      const batch = Array.from({ length: events }, () => ({ event_id: `e-${n++}`, session_id: `s-${n % 7}`, agent_id: 'a', type: 'llm.usage', occurred_at: new Date().toISOString(), input_tokens: 3, cost: '0.001' }));
      return freshRequest(port, 'POST', '/v1/events', JSON.stringify({ events: batch }));
    };
    for (let i = 0; i < 10; i++) expect((await post(10)).status).toBe(202);
    // Two scrapes on fresh connections reach both workers; each answers the sum over both.
    const accepted = async () => parsePrometheus((await freshRequest(port, 'GET', '/metrics')).body).value('traceledger_ingest_events_accepted_total', { route: '/v1/events', service: 'ingest' });
    expect([await accepted(), await accepted(), await accepted()]).toEqual([100, 100, 100]);

    // A worker killed outright: the other goes on serving, and the primary starts a third.
    process.kill(workers[0] as number, 'SIGKILL');
    await ingest.waitForLog(msg('worker exited; starting another'));
    for (let i = 0; i < 4; i++) expect((await post(5)).status).toBe(202);
    const after = await workersListening(3);
    expect(after).toHaveLength(3);
    for (let i = 0; i < 4; i++) expect((await post(5)).status).toBe(202);
    // Every acknowledged event is on the topic, once per post (the dead worker acknowledged only what Kafka had).
    const offsets = await world.kafka.groupOffsets(world.group, world.topic);
    expect(offsets.reduce((s, p) => s + p.end, 0n)).toBe(BigInt(n));

    ingest.signal('SIGTERM');
    expect((await ingest.exited).code).toBe(0);
    for (const pid of after) expect(alive(pid), `worker ${pid} gone`).toBe(false);
    await annotate(`workers ${after.join(', ')} under primary ${ingest.pid}; ${n} events`);
  });
});
