import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Two cores: more forks only queue up behind each other and make timing-sensitive
    // network tests (SMTP, hooks) flaky.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
