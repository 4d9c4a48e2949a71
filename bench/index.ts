// `npm run bench`: every comparison in bench/, one after another, each in a process of its own adding its section
// to bench/results.json. Each runs under the system Node and then again under Node 24 (the `node` dev
// dependency), whose sections go under `node24` in results.json; a table then sets the two side by side.
// bench/runtimes.ts runs two of them under Bun and Deno as well.
// BENCH_TINY=1: tiny sizes and counts, figures written to a temporary file (or BENCH_RESULTS), to check the suite.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { NODE24, resultsPath, SYSTEM_NODE, writeSection } from './common.ts';

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
const node24Sections: Record<string, unknown> = {};
try {
  for (const section of SECTIONS) {
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
      if (key === 'date' || key === 'machine') continue;
      node24Sections[key] = figures;
      const systemFigures = numbers(system[key]);
      for (const [path, value] of Object.entries(numbers(figures))) {
        table[`${key}.${path}`] = { [systemName]: systemFigures[path] ?? '', [node24Name]: value };
      }
    }
    console.log(`\n${section}: ${systemName} and ${node24Name} side by side\n`);
    console.table(table);
  }
  await writeSection('node24', { version: node24Name, ...node24Sections });
} finally {
  await rm(directory, { recursive: true, force: true });
}

console.log('\n=== runtimes ===');
await execa(SYSTEM_NODE, ['--import', 'tsx', file('runtimes')], { stdio: 'inherit' });
console.log(`\nFigures written to ${resultsPath()}`);
