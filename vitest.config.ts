import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Tests spawn real processes and read the fd table: files run one after another on two cores.
    fileParallelism: false,
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
  },
});
