import { defineConfig } from 'vitest/config';

// Three layers, each its own project: unit (pure), int (real Kafka and Postgres),
// e2e (the running services over HTTP); and the fault-injection suite (tests/faults, int layer:
// real processes killed, paused and cut off), run after the others. `npm test` runs all four.
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
          exclude: ['tests/faults/**', '**/node_modules/**'],
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
    ],
  },
});
