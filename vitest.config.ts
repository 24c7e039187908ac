import { defineConfig } from 'vitest/config';

// Three layers, each its own project: unit (pure), int (real Kafka and Postgres),
// e2e (the running services over HTTP); the fault-injection suite (tests/faults, int layer:
// real processes killed, paused and cut off), run after those; and the history checker
// (tests/history), run last. `npm test` runs all five.
const infra = ['tests/setup/global-infra.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/**/*.unit.test.ts', 'services/**/*.unit.test.ts', 'tests/**/*.unit.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'int',
          include: ['packages/**/*.int.test.ts', 'services/**/*.int.test.ts', 'tests/**/*.int.test.ts'],
          exclude: ['tests/faults/**', 'tests/history/**', '**/node_modules/**'],
          globalSetup: infra,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/**/*.e2e.test.ts'],
          globalSetup: infra,
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // The e2e files start real service processes; one at a time keeps 2 cores responsive.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'faults',
          include: ['tests/faults/**/*.int.test.ts'],
          globalSetup: infra,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Session timeouts and broker restarts are timing: the faults run after the other layers
          // (groupOrder) so those do not compete with them for 2 cores, and two files at a time.
          sequence: { groupOrder: 1 },
          maxWorkers: 2,
          // `--tags-filter='!slow'` leaves out the longest fault tests; `npm test` runs them all.
          tags: [{ name: 'slow', description: 'a fault test that takes more than 20 s (restarts, session timeouts)' }],
        },
      },
      {
        test: {
          // The history checker (tests/history/README.md): one test per seed, each a randomized
          // history of producers, consumers, faults and operator commands on a database and topic
          // of its own. Last (groupOrder 2), one file at a time: it starts several processes.
          // TL_HISTORY_SEEDS / TL_HISTORY_SEED_COUNT pick the seeds (default 3);
          // `npm run test:history -- --seeds N [--first S]`.
          name: 'history',
          include: ['tests/history/**/*.int.test.ts'],
          globalSetup: infra,
          testTimeout: 180_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 2 },
          fileParallelism: false,
        },
      },
    ],
  },
});
