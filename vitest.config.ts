import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fixtures and the CLI tests run the built package: build it from the current src/ first.
    globalSetup: ['test/_build.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Tests spawn real processes and read the fd table: files run one after another on two cores.
    fileParallelism: false,
    // Many tests expect failures and the pool logs them: show what a test printed only when it failed.
    silent: 'passed-only',
    // On two busy cores most tests take over vitest's 300 ms: list a passed test only when it took 10 s.
    slowTestThreshold: 10_000,
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
  },
});
