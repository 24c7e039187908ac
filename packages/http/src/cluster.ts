import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';

/**
 * Several processes of one service on one port (node:cluster): the primary forks the workers,
 * which accept connections in turn, restarts one that dies, forwards SIGTERM/SIGINT to all and
 * exits when they have drained; and it answers the workers' `/metrics`, so a scrape that reaches
 * any worker reads the sum over all of them (prom-client's AggregatorRegistry).
 */

const METRICS_REQ = 'traceledger:metrics-req';
const METRICS_RES = 'traceledger:metrics-res';

interface MetricsRequest {
  type: typeof METRICS_REQ;
  id: number;
}
interface MetricsResponse {
  type: typeof METRICS_RES;
  id: number;
  text?: string;
  error?: string;
}

/** Whether this process is a worker forked by `superviseWorkers`. */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/**
 * The primary: forks `workers` copies of this script and supervises them until SIGTERM or SIGINT,
 * then forwards the signal, waits up to `shutdownTimeoutMs` for every worker to exit and exits 0
 * when all of them exited 0 (else 1; a worker still running then is SIGKILLed). A worker that dies
 * unexpectedly is logged and replaced a second later.
 */
export function superviseWorkers(options: { workers: number; logger: Logger; shutdownTimeoutMs: number }): void {
  const { logger } = options;
  const aggregator = new AggregatorRegistry();
  let stopping = false;
  let failed = false;

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('message', (message: MetricsRequest) => {
      if (message?.type !== METRICS_REQ) return;
      aggregator.clusterMetrics().then(
        (text) => worker.send({ type: METRICS_RES, id: message.id, text } satisfies MetricsResponse),
        (err: unknown) => worker.send({ type: METRICS_RES, id: message.id, error: String(err) } satisfies MetricsResponse),
      );
    });
    return worker;
  };

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (code !== 0) failed = true;
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(failed ? 1 : 0);
      return;
    }
    logger.error({ workerPid: worker.process.pid, code, signal }, 'worker exited; starting another');
    setTimeout(() => {
      if (!stopping) fork();
    }, 1000).unref();
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stopping = true;
      logger.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, 'shutting down: draining every worker');
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      if (workers.length === 0) process.exit(0);
      for (const w of workers) w.process.kill(signal);
      setTimeout(() => {
        logger.error({ shutdownTimeoutMs: options.shutdownTimeoutMs }, 'workers did not drain in time; killing them');
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
        process.exit(1);
      }, options.shutdownTimeoutMs).unref();
    });
  }

  for (let i = 0; i < options.workers; i++) fork();
  logger.info({ workers: options.workers, pid: process.pid }, 'primary started its workers');
}

/**
 * In a worker: what `/metrics` answers, the sum over every worker of the cluster, asked of the
 * primary (which asks each worker for `registry`'s metrics). A worker whose primary is gone (killed
 * without its SIGTERM) drains and exits as on SIGTERM instead of serving on alone.
 */
export function joinCluster(registry: Registry, timeoutMs = 5000): { metrics: () => Promise<string> } {
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's worker-side listener that answers the primary.
  void new AggregatorRegistry();
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  let next = 0;
  process.on('message', (message: MetricsResponse) => {
    if (message?.type !== METRICS_RES) return;
    const p = pending.get(message.id);
    if (p === undefined) return;
    pending.delete(message.id);
    if (message.error !== undefined) p.reject(new Error(message.error));
    else p.resolve(message.text ?? '');
  });
  const metrics = () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`the primary did not answer for the cluster's metrics within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      process.send?.({ type: METRICS_REQ, id } satisfies MetricsRequest);
    });
  return { metrics };
}
