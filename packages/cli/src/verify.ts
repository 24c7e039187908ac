import { parseArgs } from 'node:util';
import { verifyLedger, type Pool, type VerifyProgress } from '@traceledger/db';
import { UsageError, type Output } from './output.js';

export const VERIFY_HELP = `traceledger verify: check that every answer agrees with the ledger

  traceledger verify [--tenant T]

Recomputes every session from its ledger events with the pure rule of what counts (voids,
backfills, replacements) and compares it with its trace_sessions row, column by column, and the
marks and owners that explain it; then the hourly rollups (tenant and team: sessions, all four
token kinds, cost, unpriced sessions and tokens) and each row's per-model usage with
trace_sessions. Reads one consistent snapshot in chunks (bounded memory) while the pipeline runs;
draws a progress bar on a terminal. Prints each difference; exit 0 when there is none, 1 otherwise.
Also: npm run verify.`;

/** `traceledger verify …`; returns the exit code. */
export async function verifyCommand(pool: Pool, args: string[], out: Output, tty: boolean): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { tenant: { type: 'string' } } });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, VERIFY_HELP);
  const started = Date.now();
  let last = 0;
  const onProgress = (p: VerifyProgress): void => {
    if (!tty || Date.now() - last < 100) return;
    last = Date.now();
    out.progress(progressBar(p, started));
  };
  const result = await verifyLedger(pool, { ...(values.tenant === undefined ? {} : { tenantId: values.tenant }), onProgress });
  if (tty) out.progress('\r\u001b[K');
  const ms = Date.now() - started;
  out.result({ ...result, ms }, [
    ...result.drifts.map((d) => `${d.check}\t${d.tenantId}\t${d.key}\texpected ${d.expected}\tactual ${d.actual}`),
    result.driftCount === 0
      ? `verify: no differences (${ms} ms; ${result.sessions} sessions, ${result.events} ledger events${result.sealed > 0 ? `; ${result.sealed} sessions with archived ledger months not recomputed` : ''})`
      : `verify: ${result.driftCount} difference(s)${result.driftCount > result.drifts.length ? ` (first ${result.drifts.length} printed)` : ''} (${ms} ms)`,
  ]);
  return result.driftCount === 0 ? 0 : 1;
}

/** One redrawn line: bar, sessions done of the total, events and rate. */
export function progressBar(p: VerifyProgress, startedMs: number): string {
  const pct = p.totalSessions > 0 ? Math.min(1, p.sessions / p.totalSessions) : 1;
  const width = 30;
  const filled = Math.round(pct * width);
  const rate = Math.round(p.events / Math.max(0.001, (Date.now() - startedMs) / 1000));
  return `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.sessions}/${p.totalSessions} sessions, ${p.events} events, ${rate} events/s\u001b[K`;
}
