// `npm run bench`: every comparison in bench/, one after another, each in a process of its own adding its section
// to bench/results.json. Each runs under the system Node and then again under Node 24 (the `node` dev
// dependency), whose sections go under `node24` in results.json; a table then sets the two side by side.
// bench/runtimes.ts runs two of them under Bun and Deno as well. Last, the issue's targets (bench/targets.ts),
// from whatever results.json then holds, printed and written under `targets`.
// `npm run bench -- http floor`: those sections alone (the others keep their figures), to refresh figures
// piecewise on a busy machine; `npm run bench -- targets` only prints the targets.
// BENCH_TINY=1: tiny sizes and counts, figures written to a temporary file (or BENCH_RESULTS), to check the suite.
// BENCH_PIPELINE=n: the `pipeline` option of every pool (bench/pipeline.ts).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { createTransformPool } from '../src/index.ts';
import { NODE24, resultsPath, SYSTEM_NODE, writeSection } from './common.ts';
import { describePipeline } from './pipeline.ts';
import { formatFloor, formatTargets, summarizeTargets } from './targets.ts';

const SECTIONS = [
  'persistent-vs-spawn',
  'overhead',
  'render',
  'throughput',
  'memory',
  'floor',
  'http',
  'filter',
];
// Bun and Deno beside both Nodes, run under the system Node alone (it starts each runtime itself).
const RUNTIMES = 'runtimes';

/** The sections named on the command line (all when none is), in the suite's order. */
function chooseSections(names: string[]): { sections: string[]; runtimes: boolean } {
  const known = [...SECTIONS, RUNTIMES, 'targets'];
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    console.error(
      `Unknown bench section ${unknown.map((name) => `"${name}"`).join(', ')}: the sections are ${known.join(', ')}`,
    );
    process.exit(2);
  }
  const all = names.length === 0;
  return {
    sections: SECTIONS.filter((section) => all || names.includes(section)),
    runtimes: all || names.includes(RUNTIMES),
  };
}
const chosen = chooseSections(process.argv.slice(2));
const file = (name: string): string => new URL(`${name}.ts`, import.meta.url).pathname;
const readResults = async (path: string): Promise<Record<string, unknown>> =>
  JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;

/** Every number in a section by its path ('table.floor.µs per response'); per-round lists left out. */
function numbers(value: unknown, path = '', into: Record<string, number> = {}): Record<string, number> {
  if (typeof value === 'number') into[path] = value;
  else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) numbers(inner, path ? `${path}.${key}` : key, into);
  }
  return into;
}

const directory = await mkdtemp(join(tmpdir(), 'subprocess-transform-bench-'));
const version = async (node: string): Promise<string> =>
  `Node ${(await execa(node, ['-p', 'process.version'])).stdout}`;
const [systemName, node24Name] = [await version(SYSTEM_NODE), await version(NODE24)];
console.log(`pipeline: ${await describePipeline(createTransformPool)}`);
/** results.json as it stands, or nothing yet. */
const readSoFar = (): Promise<Record<string, unknown>> => readResults(resultsPath()).catch(() => ({}));
// Sections not run this time keep Node 24's figures from before.
const node24Sections = ((await readSoFar()).node24 ?? {}) as Record<string, unknown>;
try {
  for (const section of chosen.sections) {
    const node24Path = join(directory, `${section}.json`);
    console.log(`\n=== ${section} under ${systemName} ===`);
    await execa(SYSTEM_NODE, ['--import', 'tsx', file(section)], { stdio: 'inherit' });
    // Node 24's tables would repeat the titles: its figures are shown beside the system Node's instead.
    const again = await execa(NODE24, ['--import', 'tsx', file(section)], {
      env: { BENCH_RESULTS: node24Path },
      all: true,
      reject: false,
    });
    if (again.exitCode !== 0) throw new Error(`${section} under ${node24Name} failed:\n${again.all}`);
    const [system, node24] = [await readResults(resultsPath()), await readResults(node24Path)];
    const table: Record<string, Record<string, number | string>> = {};
    // Each section writes one or more keys of results.json (http.ts: http and parentCpu).
    for (const [key, figures] of Object.entries(node24)) {
      if (key === 'date' || key === 'dates' || key === 'machine') continue;
      node24Sections[key] = figures;
      const systemFigures = numbers(system[key]);
      for (const [path, value] of Object.entries(numbers(figures))) {
        table[`${key}.${path}`] = { [systemName]: systemFigures[path] ?? '', [node24Name]: value };
      }
    }
    console.log(`\n${section}: ${systemName} and ${node24Name} side by side\n`);
    console.table(table);
  }
  await writeSection('node24', { ...node24Sections, version: node24Name });
} finally {
  await rm(directory, { recursive: true, force: true });
}

if (chosen.runtimes) {
  console.log('\n=== runtimes ===');
  await execa(SYSTEM_NODE, ['--import', 'tsx', file('runtimes')], { stdio: 'inherit' });
}

const results = await readSoFar();
const targets = summarizeTargets(results);
console.log(
  `\nThe targets of issue #14, judged on Node 24 (throughput on both Nodes), from ${resultsPath()}\n`,
);
const names = { node24: node24Name, system: systemName };
console.table(formatTargets(targets, names));
const floor = formatFloor(results, names);
if (Object.keys(floor).length > 0) {
  console.log(
    '\nThe first target against the floors (bench/floor.ts): parent CPU added per 1 KiB via cat, one message per process and pipelined\n',
  );
  console.table(floor);
}
await writeSection('targets', {
  nodes: names,
  pipeline: await describePipeline(createTransformPool),
  rows: targets,
});
console.log(`\nFigures written to ${resultsPath()}`);
