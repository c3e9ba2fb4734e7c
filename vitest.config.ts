import { defineConfig } from 'vitest/config';

/**
 * Three projects, so that a developer runs the layer they work on (`npm run test:unit` while
 * changing domain or app code, the fastest of the three) and `npm test` runs everything, as CI does.
 * - unit: pure code and the use cases in-process on SQLite (PostgreSQL too when DATABASE_URL is set)
 * - integration: real protocol peers on loopback (SMTP, IMAP, HTTP receivers), fuzzing, the corpus
 * - system: whole processes (kill -9, split roles, backups, the demo) and the browser
 * Any new file under test/ lands in integration unless it is listed below, so none is left out.
 * The system project runs after the other two (a later group): each of its tests starts whole
 * processes whose start-up costs seconds of CPU, and on two cores that competition with the
 * in-process suites made restart-time checks measure the test runner instead of the product.
 * The chaos scenarios run last and alone (system-chaos): they time restarts and recoveries, and a
 * browser test beside them on the second core doubled those times.
 */
const UNIT = [
  'src/**/*.test.ts',
  'test/architecture-doc.test.ts',
  'test/boundaries.test.ts',
  'test/config.test.ts',
  'test/api-*.test.ts',
  'test/storage.test.ts',
  'test/scheduler.test.ts',
  'test/recognition-extract.test.ts',
  'test/recognition.test.ts',
  'test/erp.test.ts',
  'test/events.test.ts',
  'test/webhooks.test.ts',
  'test/executors.test.ts',
];
const SYSTEM = [
  'test/process.test.ts',
  'test/split-roles.test.ts',
  'test/backup-restore.test.ts',
  'test/demo.test.ts',
  'test/erp-redis-processes.test.ts',
  'test/event-workers-process.test.ts',
  'test/late-delivery-process.test.ts',
  'test/cli-admin.test.ts',
  'test/doctor.test.ts',
  'test/log-format.test.ts',
  'test/ui-*.test.ts',
];

const CHAOS = ['test/chaos.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Two cores: more forks only queue up behind each other and make timing-sensitive
    // network tests (SMTP, hooks) flaky.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: [...UNIT, ...SYSTEM, ...CHAOS], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'system', include: SYSTEM, sequence: { groupOrder: 1 }, testTimeout: 60_000 } },
      { extends: true, test: { name: 'system-chaos', include: CHAOS, sequence: { groupOrder: 2 }, testTimeout: 60_000 } },
    ],
  },
});
