// The benchmark suite runs: `npm run bench` in tiny mode exits 0 and writes every section of results.json with
// numbers in it. No figure is judged: the machine may be busy, and timing belongs to the benchmarks themselves.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
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
  for (const [section, fields] of Object.entries(EXPECTED)) {
    expect(results[section], `section ${section}`).toBeTypeOf('object');
    for (const field of fields) {
      const value = at(results[section], field);
      expect(Number.isFinite(value), `${section}.${field} = ${JSON.stringify(value)}`).toBe(true);
    }
  }
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
