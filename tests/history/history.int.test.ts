import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { runHistory } from './run.js';
import { historySeeds } from './seeds.js';

// The history checker (tests/history/README.md): per seed, a bounded randomized history of
// producers, consumers, faults and operator commands against the real broker and Postgres, then
// the result compared with the checker's own model of docs/architecture.md and docs/pricing.md.
// One test per seed; `npm run test:history -- --seeds N [--first S]` picks them.

describe('history checker', () => {
  for (const seed of historySeeds()) {
    it(`seed ${seed}`, async ({ annotate }) => {
      const result = await runHistory(seed);
      await annotate(`seed ${seed}: ${result.findings.length} finding(s); ${Object.entries(result.phases).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}s`).join(', ')}`);
      if (result.ok && process.env['TL_HISTORY_VERBOSE'] !== '1') return;
      // The whole report, every attempt and every differing session go to a file; the report to the console.
      const file = join(tmpdir(), `tl-history-seed-${seed}-${Date.now()}.txt`);
      writeFileSync(file, `${result.report}\n\n${result.appendix}\n`);
      if (result.ok) process.stderr.write(`\n${result.report}\n  (written to ${file})\n`);
      else throw new Error(`${result.report}\n  (written to ${file}, with every attempt and every differing session)`);
    });
  }
});
