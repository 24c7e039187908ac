import { describe, expect, inject, it } from 'vitest';
import { expectExactlyOnce } from '../helpers/faults/exactly-once.js';
import { startIngest } from '../helpers/faults/ingest.js';
import { msg, spawnService, type LogLine, type ServiceProcess } from '../helpers/faults/processes.js';
import { EventFactory, startTraffic } from '../helpers/faults/traffic.js';
import { SESSION_TIMEOUT_MS, createFaultWorld, printProcessLogsOnFailure } from '../helpers/faults/world.js';
import { uid } from '../helpers/world.js';

// Fault 4: a consumer group of three processes on a six-partition topic, members joining and
// leaving mid-stream, and one member whose batch stalls past the session timeout (a test hook
// holds it without heartbeats, inside the batch, before its database transaction). The group
// gives its partitions away; when the stall ends the stale member still folds its batch and then
// tries to commit offsets for partitions it no longer owns.
printProcessLogsOnFailure();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const folded = (l: LogLine) => l.msg === 'folded batch';

describe('a consumer group with members joining, leaving and stalling', () => {
  it('three processes, one stalled past the session timeout: every event folded once, totals exact', { tags: ['slow'] }, async ({ annotate }) => {
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl'), partitions: 6 });
    const ingest = await startIngest({ brokers: world.brokers, topic: world.topic, pool: world.pool });
    const traffic = startTraffic(ingest.post, new EventFactory([`ta-${uid()}`, `tb-${uid()}`, `tc-${uid()}`]), { batchSize: 18 });
    const members: ServiceProcess[] = [];
    const start = (label: string, extra: Record<string, string> = {}) => {
      const p = spawnService('consumer', world.consumerEnv(extra), label);
      members.push(p);
      return p;
    };

    const a = start('consumer-a');
    const staller = start('consumer-stalls', { TL_TEST_STALL_BATCH: `4:${SESSION_TIMEOUT_MS + 4000}` });
    await Promise.all([a, staller].map((p) => p.waitForLog(msg('consumer running'), { timeoutMs: 45_000 })));
    await staller.waitForLog(msg('test hook: stalling this batch without heartbeats'), { timeoutMs: 30_000 });
    const c = start('consumer-c'); // joins while a member is stalled
    await c.waitForLog(folded, { timeoutMs: 30_000, what: 'c folding' });
    a.signal('SIGTERM'); // leaves mid-stream, draining
    expect((await a.exited).code).toBe(0);
    const d = start('consumer-d'); // joins after a left
    await d.waitForLog(folded, { timeoutMs: 30_000, what: 'd folding' });
    await staller.waitForLog(msg('test hook: stall over'), { timeoutMs: 30_000 });
    await sleep(2000);
    const acked = await traffic.stop();

    await world.drained({ timeoutMs: 60_000 });
    await expectExactlyOnce(world.pool, acked);

    // The stalled member lost its partitions: after the stall its batch was folded (or given up),
    // and its offset commit refused or withheld, never applied over the new owner's.
    const stale = staller.logs.filter(
      (l) => l.msg === 'offset commit failed; the batch will be read again' || l.msg === 'batch folded after this member lost the partition; not committing its offset',
    );
    expect(stale.length).toBeGreaterThan(0);
    const duplicates = members.flatMap((m) => m.logs.filter(folded)).reduce((n, l) => n + Number(l['duplicates'] ?? 0), 0);
    await annotate(`${acked.length} events; stale member: ${stale.map((l) => l.msg).join(' / ')}; ${duplicates} re-read events skipped by the ledger`);

    for (const m of [c, d, staller]) m.signal('SIGTERM');
    for (const m of [c, d, staller]) expect((await m.exited).code).toBe(0);
  });
});
