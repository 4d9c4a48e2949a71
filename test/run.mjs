// `npm test`: the whole vitest suite under Node, then the files that are worth it under Bun and Deno (the pool
// with real processes, and the wire codec), vitest itself and its workers running in that runtime. Each run
// writes its own JSON report; .ci/summary.mjs adds them up. Every run goes ahead even if one before it failed.
//
//   node test/run.mjs                    all three runtimes
//   node test/run.mjs --runtime bun      only the listed runtime(s)
//   node test/run.mjs test/pool.test.ts  other arguments go to vitest; given any, only Node runs
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const vitest = './node_modules/vitest/vitest.mjs';

/** Under Bun: Bun leaves out the default Content-Type of a string body, which test/wire/codec.test.ts expects. */
const RUNS = [
  { runtime: 'node', report: '.vitest-results.json', argv: [process.execPath, vitest, 'run'] },
  {
    runtime: 'bun',
    report: '.vitest-results.bun.json',
    argv: ['node_modules/.bin/bun', '--bun', vitest, 'run', 'test/smoke.test.ts', 'test/wire/corpus.test.ts'],
  },
  {
    runtime: 'deno',
    report: '.vitest-results.deno.json',
    argv: ['node_modules/.bin/deno', 'run', '-A', vitest, 'run', 'test/smoke.test.ts', 'test/wire'],
  },
];

const args = process.argv.slice(2);
const only = new Set();
for (let index = args.indexOf('--runtime'); index !== -1; index = args.indexOf('--runtime')) {
  only.add(args[index + 1]);
  args.splice(index, 2);
}
const runs = RUNS.filter(({ runtime }) =>
  only.size > 0 ? only.has(runtime) : args.length === 0 || runtime === 'node',
);
if (runs.length === 0) {
  console.error(`No such runtime: ${[...only].join(', ')} (node, bun or deno)`);
  process.exit(2);
}

// A report left from an earlier run must never be counted as this run's.
for (const { report } of RUNS) rmSync(new URL(report, `file://${root}`), { force: true });

const results = [];
for (const { runtime, report, argv } of runs) {
  console.log(`\n=== vitest under ${runtime} ===`);
  const started = Date.now();
  const result = spawnSync(argv[0], [...argv.slice(1), ...args, `--outputFile.json=${report}`], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, SMOKE_RUNTIME: runtime },
  });
  const outcome =
    result.error?.message ?? (result.status === 0 ? 'passed' : `failed (${result.status ?? result.signal})`);
  results.push({ runtime, outcome, seconds: Math.round((Date.now() - started) / 1000) });
}
console.log(
  `\n${results.map(({ runtime, outcome, seconds }) => `${runtime}: ${outcome} in ${seconds} s`).join('\n')}`,
);
process.exit(results.every(({ outcome }) => outcome === 'passed') ? 0 : 1);
