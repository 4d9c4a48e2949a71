// `npm test`: the whole vitest suite under the system Node and again under Node 24 (the `node` dev dependency),
// then the files that are worth it under Bun and Deno (the pool with real processes, the filter mode with its
// filter children on that runtime, the wire codec, and the isolation rows checked per runtime), vitest
// itself and its workers running in that runtime. Each run writes its own JSON report; .ci/summary.mjs adds them
// up. Every run goes ahead even if one before it failed. Only the first run lists its files; the others print
// their failures and a summary line (vitest's console output is shown for failed tests only: vitest.config.ts).
//
//   node test/run.mjs                     all four runs
//   node test/run.mjs --runtime node24    only the listed run(s): node, node24, bun, deno
//   node test/run.mjs test/pool/pool.test.ts   other arguments go to vitest; given any, only the system Node runs
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const vitest = './node_modules/vitest/vitest.mjs';
/**
 * npm puts node_modules/.bin first on a script's PATH, and the `node` dev dependency puts Node 24 there: under
 * `npm test` this file itself runs on Node 24. The system Node is the one that runs npm.
 */
const systemNode = process.env.npm_node_execpath ?? process.execPath;
const node24 = join(root, 'node_modules/node/bin/node');
const compact = ['--reporter=minimal', '--reporter=json'];

/**
 * `smoke`: what test/runtimes/smoke.test.ts checks it runs under (runtime@major), the runtime's name unless given.
 * Under Bun: Bun leaves out the default Content-Type of a string body, which test/wire/codec.test.ts expects. */
const RUNS = [
  { runtime: 'node', node: systemNode, report: '.vitest-results.json', argv: [systemNode, vitest, 'run'] },
  {
    runtime: 'node24',
    smoke: 'node@24',
    node: node24,
    report: '.vitest-results.node24.json',
    // test/project/bench.test.ts runs every benchmark under both Nodes whichever Node runs it: once is enough.
    argv: [node24, vitest, 'run', ...compact, '--exclude=test/project/bench.test.ts'],
  },
  {
    runtime: 'bun',
    node: systemNode,
    report: '.vitest-results.bun.json',
    argv: [
      'node_modules/.bin/bun',
      '--bun',
      vitest,
      'run',
      ...compact,
      'test/runtimes/smoke.test.ts',
      'test/wire/corpus.test.ts',
      'test/filter/runtime.test.ts',
      'test/pool/exit-after-answer.test.ts',
      'test/pool/pipeline-repeats.test.ts',
      'test/pool/dispatch-processes.test.ts',
    ],
  },
  {
    runtime: 'deno',
    node: systemNode,
    report: '.vitest-results.deno.json',
    argv: [
      'node_modules/.bin/deno',
      'run',
      '-A',
      vitest,
      'run',
      ...compact,
      'test/runtimes/smoke.test.ts',
      'test/wire',
      'test/filter/runtime.test.ts',
      'test/pool/exit-after-answer.test.ts',
      'test/pool/pipeline-repeats.test.ts',
      'test/pool/dispatch-processes.test.ts',
      // The codec inside workerd is Miniflare's, driven from Node: not a Deno case.
      '--exclude=test/wire/workers.test.ts',
    ],
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
  console.error(
    `No such runtime: ${[...only].join(', ')} (${RUNS.map(({ runtime }) => runtime).join(', ')})`,
  );
  process.exit(2);
}

// A report left from an earlier run must never be counted as this run's.
for (const { report } of RUNS) rmSync(new URL(report, `file://${root}`), { force: true });

// A test that spawns `node` by name (a consumer project running `node main.js`) gets the Node of its run: a
// folder holding only a `node` link, first on PATH.
const links = mkdtempSync(join(tmpdir(), 'subprocess-transform-node-'));
const results = [];
try {
  for (const { runtime, smoke = runtime, node, report, argv } of runs) {
    console.log(`\n=== vitest under ${runtime} ===`);
    const bin = join(links, runtime);
    mkdirSync(bin);
    symlinkSync(node, join(bin, 'node'));
    const started = Date.now();
    const result = spawnSync(argv[0], [...argv.slice(1), ...args, `--outputFile.json=${report}`], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, SMOKE_RUNTIME: smoke, PATH: `${bin}${delimiter}${process.env.PATH}` },
    });
    const outcome =
      result.error?.message ??
      (result.status === 0 ? 'passed' : `failed (${result.status ?? result.signal})`);
    results.push({ runtime, outcome, seconds: Math.round((Date.now() - started) / 1000) });
  }
} finally {
  rmSync(links, { recursive: true, force: true });
}
console.log(
  `\n${results.map(({ runtime, outcome, seconds }) => `${runtime}: ${outcome} in ${seconds} s`).join('\n')}`,
);
process.exit(results.every(({ outcome }) => outcome === 'passed') ? 0 : 1);
