/**
 * A small HTTP load generator for the benchmarks: GETs over a keep-alive agent, timed from the
 * request until the last byte of the answer, run one at a time or by closed-loop clients (each
 * sends its next request when the last is answered).
 */
import http from 'node:http';
import { TraceLedgerError } from '@traceledger/core';

/** What a request came back with; `failure` names why it is not a 200. */
export interface Answer {
  status: number;
  failure?: string;
}

export type Request = () => Promise<Answer>;

/** Latencies of the measured requests (failed ones included) and how long the phase took. */
export interface Sample {
  latenciesMs: number[];
  /** `status code` (or `threw ERRCODE`) → count. */
  failures: Map<string, number>;
  elapsedMs: number;
}

/** A keep-alive agent with a socket for each client, all of them kept open between requests. */
export function keepAliveAgent(clients: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: clients, maxFreeSockets: clients });
}

/**
 * A GET of `path` on `base` through `agent`; a 200's body is read and dropped, another's `code`
 * (traceledger's JSON errors) is kept. Aborted by `signal`; a request not answered within
 * `timeoutMs` fails as `threw TIMEOUT`.
 */
export function get(agent: http.Agent, base: URL, path: string, headers: Record<string, string>, signal: AbortSignal, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.get({ agent, host: base.hostname, port: base.port, path, headers, signal }, (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      if (status === 200) res.resume();
      else res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (status === 200) return resolve({ status });
        let code = '';
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: unknown };
          if (typeof body.code === 'string') code = ` ${body.code}`;
        } catch {
          // not JSON: the status says enough
        }
        resolve({ status, failure: `${status}${code}` });
      });
      res.on('error', (err: Error & { code?: string }) => resolve({ status: 0, failure: `threw ${err.code ?? err.name}` }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer in ${timeoutMs} ms`), { code: 'TIMEOUT' })));
    req.on('error', (err: Error & { code?: string }) => resolve({ status: 0, failure: `threw ${err.code ?? err.name}` }));
  });
}

function interrupted(): TraceLedgerError {
  return new TraceLedgerError('TL_BENCH_INTERRUPTED', 'interrupted');
}

async function timed(request: Request, into: Sample): Promise<void> {
  const started = performance.now();
  const answer = await request();
  into.latenciesMs.push(performance.now() - started);
  if (answer.failure !== undefined) into.failures.set(answer.failure, (into.failures.get(answer.failure) ?? 0) + 1);
}

/** `warmup` unmeasured requests, then `n` measured ones, one at a time. */
export async function oneClient(request: Request, warmup: number, n: number, signal: AbortSignal): Promise<Sample> {
  for (let i = 0; i < warmup; i++) {
    if (signal.aborted) throw interrupted();
    await request();
  }
  const sample: Sample = { latenciesMs: [], failures: new Map(), elapsedMs: 0 };
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    if (signal.aborted) throw interrupted();
    await timed(request, sample);
  }
  sample.elapsedMs = performance.now() - started;
  return sample;
}

/** How long a closed-loop phase lasts: a duration, or a number of requests shared by all clients. */
export type Stop = { seconds: number } | { count: number };

/** Runs `clients` loops, each calling `step` until it returns false. */
async function loops(clients: number, step: () => Promise<boolean>): Promise<void> {
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (await step()) {
        // step did the work
      }
    }),
  );
}

/**
 * `clients` closed loops: first `warmupEach` × `clients` unmeasured requests (connections and the
 * service's pool open there, not in the figures), then measured requests until `stop`. Requests in
 * flight when the time is up are waited for and counted.
 */
export async function closedLoop(request: Request, clients: number, warmupEach: number, stop: Stop, signal: AbortSignal): Promise<Sample> {
  let warm = 0;
  await loops(clients, async () => {
    if (signal.aborted) throw interrupted();
    if (warm >= warmupEach * clients) return false;
    warm++;
    await request();
    return true;
  });
  const sample: Sample = { latenciesMs: [], failures: new Map(), elapsedMs: 0 };
  const started = performance.now();
  const deadline = 'seconds' in stop ? started + stop.seconds * 1000 : Number.POSITIVE_INFINITY;
  let issued = 0;
  await loops(clients, async () => {
    if (signal.aborted) throw interrupted();
    if ('count' in stop ? issued >= stop.count : performance.now() >= deadline) return false;
    issued++;
    await timed(request, sample);
    return true;
  });
  sample.elapsedMs = performance.now() - started;
  return sample;
}
