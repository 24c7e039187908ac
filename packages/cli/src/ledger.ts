import { parseArgs } from 'node:util';
import { InvalidInputError, parseMonth } from '@traceledger/core';
import { archiveLedgerMonth, listLedgerMonths, type Pool } from '@traceledger/db';
import { UsageError, type Output } from './output.js';

export const LEDGER_HELP = `traceledger ledger: the ledger's monthly partitions

  traceledger ledger months
      Each month of the ledger (applied_events): attached with its rows and sessions, or archived
      and where its rows went; and the rows in the default partition (0 when healthy).
  traceledger ledger archive --month YYYY-MM [--drop]
      Seals the month's sessions (their totals in trace_sessions stay as they are and are never
      recomputed again), drops the month's event keys and detaches its partition, kept as
      applied_events_YYYY_MM_archived for pg_dump (or dropped with --drop). Refused before
      LEDGER_DEDUPE_WINDOW_DAYS (default 35) have passed since the month ended, and while an open
      backfill has events in it. Billing and analytics answers do not change.

An event of an archived month sent again counts again: set the window to at least the topic's
retention plus the longest a producer may retry (docs/scaling.md, "Ledger partitions and retention").`;

/** \`traceledger ledger …\` */
export async function ledgerCommand(pool: Pool, args: string[], out: Output, settings: { dedupeWindowDays: number }): Promise<void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'months': {
      const { months, defaultRows } = await listLedgerMonths(pool);
      out.result({ months, defaultRows }, [
        ...months.map((m) => `${m.month}  ${m.state.padEnd(8)}  ${String(m.events).padStart(12)} events  ${String(m.sessions).padStart(10)} sessions${m.destination === null ? '' : `  -> ${m.destination}`}`),
        `default partition: ${defaultRows} rows${defaultRows > 0 ? ' (a month without its partition: see docs/scaling.md)' : ''}`,
      ]);
      return;
    }
    case 'archive': {
      const { values } = parseArgs({ args: rest, options: { month: { type: 'string' }, drop: { type: 'boolean' } } });
      if (!values.month) throw new UsageError('ledger archive needs --month YYYY-MM', LEDGER_HELP);
      try {
        parseMonth(values.month);
      } catch (err) {
        if (err instanceof InvalidInputError) throw new UsageError(`--month: ${err.message}`, LEDGER_HELP);
        throw err;
      }
      const r = await archiveLedgerMonth(pool, values.month, { dedupeWindowDays: settings.dedupeWindowDays, drop: values.drop === true });
      out.result(r, [
        `archived ${r.month}: ${r.events} ledger rows, ${r.sessions} sessions sealed`,
        r.table === null ? 'the partition was dropped' : `its rows are in ${r.table}: pg_dump -t ${r.table} then DROP TABLE ${r.table}`,
      ]);
      return;
    }
    default:
      throw new UsageError(sub === undefined ? '' : `unknown ledger command "${sub}"`, LEDGER_HELP);
  }
}
