import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // temp-folders first: its teardown, the leftover check, runs last.
    globalSetup: ['test/setup/temp-folders.ts', 'test/setup/keyring.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: spawned CLIs and servers compete with test workers for CPU.
    maxWorkers: 2,
  },
});
