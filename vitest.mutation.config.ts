// The tests Stryker runs for each mutant of the pure pool modules (`npm run mutation`, stryker.config.json):
// only the files that test them, with no build first (they spawn nothing that needs dist/).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/pool/fate.test.ts',
      'test/pool/answered-ids.test.ts',
      'test/pool/in-flight.test.ts',
      'test/pool/dispatch.test.ts',
      'test/pool/answer-channel.test.ts',
      'test/pool/drain.test.ts',
      'test/pool/exchange-verdicts.test.ts',
      'test/pool/wait-queue.test.ts',
      'test/pool/watch-trial.test.ts',
      'test/pool/pool-stats.test.ts',
      'test/pool/process-state.test.ts',
    ],
    fileParallelism: false,
  },
});
