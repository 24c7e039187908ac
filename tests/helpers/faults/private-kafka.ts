import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { registerCleanup } from '../cleanup.js';
import { RUN_ENV, privateKafkaDirPrefix, readProcess, waitGone } from '../run-processes.js';
import { waitFor } from '../world.js';
import { freePortPair, portOpen } from './ports.js';
import { ROOT } from './processes.js';

const run = promisify(execFile);

/** A Kafka broker of one test's own, which the test may kill, pause and restart. */
export interface PrivateKafka {
  readonly port: number;
  readonly brokers: string[];
  readonly dataDir: string;
  /** Starts the broker on its existing data (or fresh), returning once it serves clients. */
  start(): Promise<void>;
  /** A clean stop (SIGTERM, the broker flushes and leaves). */
  stop(): Promise<void>;
  /** SIGKILL: a crash. Resolves once the broker's ports are closed. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: the broker hangs without closing a connection. */
  pause(): void;
  resume(): void;
}

/**
 * A second, private broker (scripts/kafka-local.sh with its own KAFKA_PORT and KAFKA_DATA_DIR),
 * never the shared one: tests that stop or kill Kafka use this. Its KRaft broker session is short
 * so that, after a SIGKILL, the restarted broker re-registers in seconds rather than after the
 * default 9 s. Killed and deleted after the test (or the file, when started outside a test; see
 * ../cleanup.ts). Its data dir is /tmp/tl-fault-kafka-<run id>-XXXXXX, and the java process names
 * it on its command line (and has TL_TEST_RUN=<run id>), which is how the run's teardown finds a
 * broker that outlived its test.
 */
export async function startPrivateKafka(): Promise<PrivateKafka> {
  const broker = await privateKafka(await freePortPair(), {});
  await broker.start();
  return broker;
}

/** Nodes of a private cluster, each a KRaft broker and controller; `brokers` lists them all. */
export interface PrivateKafkaCluster {
  readonly nodes: readonly PrivateKafka[];
  readonly brokers: string[];
}

/**
 * A private cluster of `size` nodes (each broker and controller, its own ports and data dir, one
 * KRaft quorum), started at once: no node is ready before a quorum of controllers is up. Internal
 * topics are replicated on every node (the group coordinator survives a node). Cleaned up like a
 * private broker.
 */
export async function startPrivateKafkaCluster(size = 3): Promise<PrivateKafkaCluster> {
  const ports: number[] = [];
  while (ports.length < size) {
    const p = await freePortPair();
    if (!ports.some((q) => Math.abs(q - p) < 2)) ports.push(p);
  }
  const voters = ports.map((p, i) => `${i + 1}@127.0.0.1:${p + 1}`).join(',');
  const clusterId = `tl-cluster-${ports[0]}`;
  const rf = Math.min(3, size);
  const nodes = await Promise.all(
    ports.map((p, i) =>
      privateKafka(p, {
        KAFKA_NODE_ID: String(i + 1),
        KAFKA_QUORUM_VOTERS: voters,
        KAFKA_CLUSTER_ID: clusterId,
        KAFKA_HEAP: '256m',
        EXTRA: [`offsets.topic.replication.factor=${rf}`, `transaction.state.log.replication.factor=${rf}`, 'transaction.state.log.min.isr=1', `default.replication.factor=${rf}`].join('\n'),
      }),
    ),
  );
  await Promise.all(nodes.map((n) => n.start()));
  return { nodes, brokers: nodes.flatMap((n) => n.brokers) };
}

async function privateKafka(port: number, extra: Record<string, string>): Promise<PrivateKafka> {
  const runId = inject('runId');
  const dataDir = await mkdtemp(join(tmpdir(), privateKafkaDirPrefix(runId)));
  const { EXTRA: extraConfig, ...extraEnv } = extra;
  const env = {
    ...process.env,
    [RUN_ENV]: runId,
    KAFKA_PORT: String(port),
    KAFKA_DATA_DIR: dataDir,
    KAFKA_HEAP: '384m',
    ...extraEnv,
    KAFKA_EXTRA_CONFIG: ['broker.session.timeout.ms=2000', 'broker.heartbeat.interval.ms=500', ...(extraConfig === undefined ? [] : [extraConfig])].join('\n'),
  };
  const script = resolve(ROOT, 'scripts/kafka-local.sh');
  const pid = async (): Promise<number | null> => {
    try {
      return Number((await readFile(join(dataDir, 'kafka.pid'), 'utf8')).trim());
    } catch {
      return null;
    }
  };
  let paused = false;
  let current: number | null = null;
  const broker: PrivateKafka = {
    port,
    brokers: [`127.0.0.1:${port}`],
    dataDir,
    async start() {
      await run('bash', [script, 'start'], { env, timeout: 120_000 });
      current = await pid();
    },
    async stop() {
      if (paused) broker.resume();
      await run('bash', [script, 'stop'], { env, timeout: 60_000 });
    },
    async kill() {
      const p = current;
      if (p === null) throw new Error('private broker is not running');
      if (paused) broker.resume();
      process.kill(p, 'SIGKILL');
      current = null;
      await waitFor(async () => !(await portOpen(port)) && !(await portOpen(port + 1)), { timeoutMs: 15_000, intervalMs: 50, what: 'the killed broker to release its ports' });
    },
    pause() {
      if (current === null) throw new Error('private broker is not running');
      process.kill(current, 'SIGSTOP');
      paused = true;
    },
    resume() {
      if (current !== null) process.kill(current, 'SIGCONT');
      paused = false;
    },
  };
  registerCleanup(async () => {
    const p = await pid();
    // Only a process that is this broker: after a kill() the pid file names a dead pid, which
    // the system may since have given to something else.
    const proc = p === null ? null : await readProcess(p);
    if (proc !== null && proc.argv.some((a) => a.includes(dataDir))) {
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      // A SIGKILLed JVM may still be writing its logs for a moment; the dir goes once it is gone.
      await waitGone([proc.pid], 10_000);
    }
    await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
  });
  return broker;
}
