import { defineConfig } from 'vitest/config';

// Three layers, each its own project: unit (pure), int (real Kafka and Postgres),
// e2e (the running services over HTTP). `npm test` runs all three.
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
    ],
  },
});
