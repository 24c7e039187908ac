/**
 * Runs traceledger's benchmarks and prints their reports (markdown) on stdout:
 *
 *   npm run bench [-- --only pipeline|ingest|fold|e2e|queries|consumers|operations|query[,other]] [options]
 *
 * Without --only it runs `pipeline` (the whole table of issue 11).
 *
 * Each benchmark is a module in bench/ exporting `name`, `summary` and `run(argv)`; options this
 * runner does not know (everything but --only) are handed to every benchmark it runs.
 */
import { TraceLedgerError } from '@traceledger/core';

interface BenchModule {
  name: string;
  summary: string;
  run: (argv: string[]) => Promise<string>;
}

/** The benchmarks, loaded on demand so one with heavy imports costs nothing when not selected. */
const BENCHMARKS: Record<string, () => Promise<BenchModule>> = {
  query: () => import('./query.js'),
  queries: () => import('./query-load.js'),
  pipeline: () => import('./pipeline.js'),
  operations: () => import('./operations.js'),
  ingest: () => import('./ingest.js'),
  fold: () => import('./fold.js'),
  e2e: () => import('./e2e.js'),
  consumers: () => import('./consumers.js'),
};

function splitArgs(argv: readonly string[]): { only: string[] | null; rest: string[] } {
  const rest: string[] = [];
  let only: string[] | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    let value: string | undefined;
    if (arg === '--only') value = argv[++i];
    else if (arg.startsWith('--only=')) value = arg.slice('--only='.length);
    else {
      rest.push(arg);
      continue;
    }
    if (value === undefined || value === '') throw new TraceLedgerError('TL_BENCH_BAD_OPTION', '--only needs a benchmark name');
    only = [...(only ?? []), ...value.split(',').filter((v) => v !== '')];
  }
  return { only, rest };
}

async function main(): Promise<void> {
  const { only, rest } = splitArgs(process.argv.slice(2));
  // Without --only: the pipeline table, which runs ingest, fold, e2e and queries itself.
  const names = only ?? ['pipeline'];
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    throw new TraceLedgerError('TL_BENCH_BAD_OPTION', `unknown benchmark ${unknown.map((n) => `"${n}"`).join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
  }
  for (const n of names) {
    const load = BENCHMARKS[n] as () => Promise<BenchModule>;
    const bench = await load();
    process.stderr.write(`bench: ${bench.name}: ${bench.summary}\n`);
    const started = performance.now();
    const report = await bench.run(rest);
    console.log(`${report}\n\n(${bench.name}: ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
  }
}

main().catch((err: unknown) => {
  const code = err instanceof TraceLedgerError ? err.code : undefined;
  console.error(`bench: ${code === undefined ? '' : `${code}: `}${err instanceof Error ? err.message : String(err)}`);
  if (code === undefined && err instanceof Error && err.stack) console.error(err.stack);
  process.exitCode = code === 'TL_BENCH_BAD_OPTION' ? 2 : 1;
});
