// The benchmark suite runs: `npm run bench` in tiny mode exits 0, writes every section of results.json with
// numbers in it, and ends with the targets table. No figure is judged: the machine may be busy, and
// timing belongs to the benchmarks themselves. How a target is judged from given figures is tested exactly.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { formatFloor, summarizeTargets, TARGETS, type TargetRow } from '../../bench/targets.ts';
import { createTransformPool } from '../../src/index.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'bench-test-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** The numeric fields each section must have, by path inside it ('a.b' is field b of object a). */
const overheadFields = ['transformUs', 'harnessUs', 'rawUs', 'ratio'];
const throughputFields = ['rawMBs', 'libraryMBs', 'ratio'];
const EXPECTED: Record<string, string[]> = {
  persistentVsSpawn: [
    'rawUs',
    'persistentUs',
    'processPerResponseUs',
    'persistentVsRaw',
    'spawnVsPersistent',
  ],
  overhead: overheadFields,
  render: ['persistentUs', 'perResponseUs', 'ratio'],
  filter: ['spawnP50Ms', 'sparesP50Ms', 'p50Ratio', 'spawnReqPerSec', 'sparesReqPerSec', 'reqPerSecRatio'],
  throughput: throughputFields,
  memory: ['library', 'raw'].flatMap((mode) =>
    ['baselineMiB', 'peakMiB', 'deltaMiB'].map((f) => `${mode}.${f}`),
  ),
  floor: ['bare', 'raw pipe', 'floor', 'pool', 'raw pipe ×4', 'floor ×4', 'raw pipe ×16', 'floor ×16'].map(
    (run) => `table.${run}.µs per response`,
  ),
  http: ['bare', 'sidecall', 'cat:src', 'child:src'].map((target) => `targets.${target}.req/s`),
  parentCpu: ['bare.µs per response', 'cat:src.µs per response', 'cat:src.added µs'],
  runtimes: ['node', 'node24', 'bun', 'deno'].flatMap((runtime) => [
    ...overheadFields.map((field) => `${runtime}.overhead.${field}`),
    ...throughputFields.map((field) => `${runtime}.throughput.${field}`),
  ]),
};

// Every section but the runtimes table runs again under Node 24, its figures under `node24`.
EXPECTED.node24 = Object.entries(EXPECTED).flatMap(([section, fields]) =>
  section === 'runtimes' ? [] : fields.map((field) => `${section}.${field}`),
);
// The targets, each with a figure from both Nodes.
EXPECTED.targets = Object.keys(TARGETS).flatMap((name) => [`rows.${name}.node24`, `rows.${name}.system`]);

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Whether this tree's pools take `pipeline`, asked of createTransformPool itself (it lands in a later build). */
async function pipelineSupported(): Promise<boolean> {
  try {
    await createTransformPool({ command: 'cat', processes: 1, ...{ pipeline: 1 } }).close();
    return true;
  } catch (error) {
    if (error instanceof TypeError && error.message.includes('"pipeline"')) return false;
    throw error;
  }
}

const at = (value: unknown, path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>((object, key) => (object as Record<string, unknown> | undefined)?.[key], value);

// Every section runs twice (the system Node, Node 24): about 2 min in tiny mode on two busy cores.
it('runs every benchmark in tiny mode and writes every section', { timeout: 900_000 }, async () => {
  const file = join(directory, 'results.json');
  const result = await execa(process.execPath, ['--import', 'tsx', 'bench/index.ts'], {
    cwd: ROOT,
    env: { BENCH_TINY: '1', BENCH_RESULTS: file },
    all: true,
    reject: false,
  });
  expect(result.exitCode, result.all).toBe(0);
  const results = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  // Under HTTP load, one message per process beside the setting in use, where this build has the option.
  const supported = await pipelineSupported();
  if (!supported) expect(result.all).toContain('pipeline not supported by this build (src)');
  const rows = supported ? ['cat:src pipeline 1', 'child:src pipeline 1'] : [];
  const expected = {
    ...EXPECTED,
    http: [...(EXPECTED.http ?? []), ...rows.map((row) => `targets.${row}.req/s`)],
    parentCpu: [...(EXPECTED.parentCpu ?? []), ...rows.slice(0, 1).map((row) => `${row}.added µs`)],
  };
  for (const [section, fields] of Object.entries(expected)) {
    expect(results[section], `section ${section}`).toBeTypeOf('object');
    for (const field of fields) {
      const value = at(results[section], field);
      expect(Number.isFinite(value), `${section}.${field} = ${JSON.stringify(value)}`).toBe(true);
    }
  }
  // The targets table closes the run: a line per target, each judged.
  const table = result.stdout.slice(result.stdout.lastIndexOf('The targets of issue #14'));
  for (const { measure } of Object.values(TARGETS)) {
    expect(table).toMatch(new RegExp(`${escapeRegExp(measure)}.*'(met|missed)'`));
  }
});

// `npm run bench -- overhead`: that section is run again, under both Nodes; the others keep their figures.
it('runs only the sections named and keeps the figures of the others', { timeout: 300_000 }, async () => {
  const file = join(directory, 'piecewise.json');
  const render = { ratio: 123.4 };
  writeFileSync(
    file,
    JSON.stringify({ render, dates: { render: 'then' }, node24: { render: { ratio: 56.7 } } }),
  );
  const result = await execa(process.execPath, ['--import', 'tsx', 'bench/index.ts', 'overhead'], {
    cwd: ROOT,
    env: { BENCH_TINY: '1', BENCH_RESULTS: file, BENCH_PIPELINE: '2' },
    all: true,
    reject: false,
  });
  expect(result.exitCode, result.all).toBe(0);
  const results = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  expect(Object.keys(results).sort()).toEqual(
    ['date', 'dates', 'machine', 'node24', 'overhead', 'render', 'targets'].sort(),
  );
  expect(results.render).toEqual(render);
  expect(results.node24?.render).toEqual({ ratio: 56.7 });
  expect(results.dates?.render).toBe('then');
  for (const field of overheadFields) {
    expect(results.overhead?.[field]).toBeTypeOf('number');
    expect(at(results.node24, `overhead.${field}`)).toBeTypeOf('number');
  }
  const rows = results.targets?.rows as Record<string, TargetRow>;
  expect(rows.render).toMatchObject({ node24: 56.7, system: 123.4, met: false, measuredAt: 'then' });
  expect(rows.sequential?.node24).toBe(results.node24?.overhead && at(results.node24, 'overhead.ratio'));
  expect(rows.httpCat).toMatchObject({ node24: null, system: null, met: null });
  // BENCH_PIPELINE reaches the pools, or is said to be ignored by a build without the option.
  if (await pipelineSupported()) expect(results.targets?.pipeline).toBe(2);
  else {
    expect(results.targets?.pipeline).toBe('pipeline not supported by this build');
    expect(result.all).toContain('BENCH_PIPELINE=2 ignored');
  }
});

it('refuses a section it does not know, and a pipeline that is not a whole number from 1', async () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    execa(process.execPath, ['--import', 'tsx', 'bench/index.ts', ...args], {
      cwd: ROOT,
      env: { BENCH_TINY: '1', BENCH_RESULTS: join(directory, 'refused.json'), ...env },
      reject: false,
    });
  const unknown = await run(['htpp']);
  expect(unknown.exitCode).toBe(2);
  expect(unknown.stderr).toContain('Unknown bench section "htpp": the sections are persistent-vs-spawn,');
  const zero = await run(['targets'], { BENCH_PIPELINE: '0' });
  expect(zero.exitCode).not.toBe(0);
  expect(zero.stderr).toContain('Expected BENCH_PIPELINE to be a whole number from 1, got "0"');
});

describe('the targets summary', () => {
  /** results.json with the given figures for both Nodes (system first, Node 24 second). */
  const resultsWith = (system: Record<string, unknown>, node24: Record<string, unknown>) => ({
    ...system,
    dates: { floor: '2026-12-03T23:00:00.000Z' },
    node24,
  });
  const http = (bare: number, cat: number, child: number, sidecall: number, more = {}) => ({
    targets: Object.fromEntries(
      Object.entries({ bare, 'cat:src': cat, 'child:src': child, sidecall, ...more }).map(([row, rate]) => [
        row,
        { 'req/s': rate },
      ]),
    ),
  });

  it('judges each target on Node 24, with both figures beside it', () => {
    const rows = summarizeTargets(
      resultsWith(
        {
          floor: { table: { pool: { 'added µs': 95.04 } } },
          http: http(20_000, 4_000, 3_000, 1_000),
          overhead: { ratio: 2.5 },
          throughput: { ratio: 0.95 },
          render: { ratio: 80 },
        },
        {
          floor: { table: { pool: { 'added µs': 30 } } },
          http: http(30_000, 9_900, 7_400, 2_500, { 'cat:src pipeline 1': 6_000 }),
          overhead: { ratio: 2 },
          throughput: { ratio: 0.9 },
          render: { ratio: 100.0004 },
        },
      ),
    );
    const judged = Object.fromEntries(
      Object.entries(rows).map(([name, row]) => [name, [row.node24, row.system, row.met]]),
    );
    expect(judged).toEqual({
      parentCpu: [30, 95, true],
      httpCat: [0.33, 0.2, true],
      httpChild: [0.247, 0.15, false],
      httpSideCall: [3.96, 4, false],
      sequential: [2, 2.5, true],
      throughput: [0.9, 0.95, true],
      render: [100, 80, true],
    });
    expect(rows.parentCpu).toMatchObject({
      section: 'floor',
      unit: 'µs',
      target: '<= 30 µs',
      measuredAt: '2026-12-03T23:00:00.000Z',
    });
    expect(rows.throughput?.target).toBe('>= 0.9x on both');
    // Pipeline 1 beside the setting in use, where the section has that row; never judged.
    expect(rows.httpCat?.pipeline1).toEqual({ node24: 0.2, system: null });
    expect(rows.httpSideCall?.pipeline1).toEqual({ node24: 2.4, system: null });
    expect(rows.httpChild?.pipeline1).toEqual({ node24: null, system: null });
    expect(rows.sequential?.pipeline1).toEqual({ node24: null, system: null });
  });

  it('sets the floor rows of both Nodes side by side, by the CPU each adds', () => {
    const floor = (rows: Record<string, number>) => ({
      table: Object.fromEntries(Object.entries(rows).map(([row, added]) => [row, { 'added µs': added }])),
    });
    const results = {
      floor: floor({ pool: 120, 'floor ×16': 40 }),
      node24: { floor: floor({ pool: 80, floor: 45 }) },
    };
    expect(formatFloor(results, { node24: '24', system: '20' })).toEqual({
      pool: { '24, added µs': 80, '20, added µs': 120 },
      floor: { '24, added µs': 45, '20, added µs': '-' },
      'floor ×16': { '24, added µs': '-', '20, added µs': 40 },
    });
  });

  it('misses a target kept on both Nodes when either misses it, and has no verdict without a figure', () => {
    const rows = summarizeTargets(
      resultsWith({ throughput: { ratio: 0.89 }, render: { ratio: 500 } }, { throughput: { ratio: 1.2 } }),
    );
    expect(rows.throughput).toMatchObject({ node24: 1.2, system: 0.89, met: false });
    expect(rows.render).toMatchObject({ node24: null, system: 500, met: null });
    expect(rows.parentCpu).toMatchObject({ node24: null, system: null, met: null });
    expect(rows.httpCat).toMatchObject({ node24: null, system: null, met: null, measuredAt: null });
  });
});

// The soak's own verdict (innocent failures, cross-delivered answers, growth) is `npm run soak`'s to give, at full
// length on a quiet machine: here only that a tiny soak runs to its verdict and reports figures.
it('runs the HTTP soak in tiny mode and reports its figures', { timeout: 180_000 }, async () => {
  const file = join(directory, 'soak.json');
  const result = await execa(process.execPath, ['--import', 'tsx', 'bench/soak.ts'], {
    cwd: ROOT,
    env: { BENCH_TINY: '1', BENCH_RESULTS: file },
    all: true,
    reject: false,
  });
  // 0: every check held; 1: the soak found something; 2 or a signal: the soak itself broke.
  expect([0, 1], result.all).toContain(result.exitCode);
  expect(result.stdout).toMatch(/\n(PASS|FAIL: .+)\n?$/);
  const soak = (JSON.parse(readFileSync(file, 'utf8')) as { soak: Record<string, unknown> }).soak;
  expect(soak.requests as number, JSON.stringify(soak)).toBeGreaterThan(0);
  const fields = ['innocentOk', 'innocentFailed', 'crossDelivered', 'faultsSent', 'restarts'];
  const resources = ['start', 'warm', 'peak', 'end'].flatMap((at) => [`rssMiB.${at}`, `fds.${at}`]);
  for (const field of [...fields, ...resources]) {
    const value = at(soak, field);
    expect(Number.isFinite(value), `soak.${field} = ${JSON.stringify(value)}`).toBe(true);
  }
  expect((soak.rssMiB as { end: number }).end).toBeGreaterThan(0);
  expect((soak.fds as { end: number }).end).toBeGreaterThan(0);
});
