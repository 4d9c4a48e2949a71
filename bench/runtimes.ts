// Issue #8's Bun and Deno repeats: bench/overhead.ts (row 1) and bench/throughput.ts (row 4) run under the system
// Node, Node 24, Bun and Deno, each a subprocess printing one JSON line (BENCH_EMIT=json), the library and both children
// under that runtime. One table, runtime by figure; a runtime that cannot run a benchmark gets the reason.
import { execa } from 'execa';
import { NODE24, round, SYSTEM_NODE, TINY, writeSection } from './common.ts';

const bin = (name: string): string => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;
const file = (name: string): string => new URL(name, import.meta.url).pathname;
const RUNTIMES: Record<string, (script: string) => string[]> = {
  node: (script) => [SYSTEM_NODE, '--import', 'tsx', script],
  node24: (script) => [NODE24, '--import', 'tsx', script],
  bun: (script) => [bin('bun'), script],
  deno: (script) => [bin('deno'), 'run', '-A', script],
};

type Figures = Record<string, unknown> & { runtime: string };

/** The JSON line a benchmark printed, or why there is none. */
async function run(argv: string[]): Promise<Figures | { problem: string }> {
  const [command, ...args] = argv as [string, ...string[]];
  const result = await execa(command, args, {
    env: { BENCH_EMIT: 'json' },
    reject: false,
    timeout: TINY ? 120_000 : 600_000,
  });
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.exitCode === 0 && line.startsWith('{')) return JSON.parse(line) as Figures;
  // The last line of stderr is usually the error; execa's message when the runtime did not even start.
  const why = result.stderr.trim().split('\n').at(-1) || result.shortMessage;
  const how = result.timedOut ? 'timed out' : `exit ${result.exitCode ?? result.signal ?? '(none)'}`;
  return { problem: `${how}: ${why}` };
}

const number = (figures: Figures | { problem: string }, key: string): number | undefined => {
  const value = (figures as Record<string, unknown>)[key];
  return typeof value === 'number' ? value : undefined;
};

const table: Record<string, Record<string, string | number>> = {};
const section: Record<
  string,
  { overhead: Figures | { problem: string }; throughput: Figures | { problem: string } }
> = {};
for (const [name, argv] of Object.entries(RUNTIMES)) {
  const overhead = await run(argv(file('overhead.ts')));
  const throughput = await run(argv(file('throughput.ts')));
  section[name] = { overhead, throughput };
  const problems = [overhead, throughput].flatMap((figures) =>
    'problem' in figures ? [figures.problem] : [],
  );
  table[name] = {
    version: 'runtime' in overhead ? overhead.runtime : 'runtime' in throughput ? throughput.runtime : '',
    'transform µs': number(overhead, 'transformUs') ?? '',
    'harness µs': number(overhead, 'harnessUs') ?? '',
    'raw µs': number(overhead, 'rawUs') ?? '',
    'overhead ratio': 'ratio' in overhead ? `${number(overhead, 'ratio')}x raw` : '',
    'library MB/s': number(throughput, 'libraryMBs') ?? '',
    'raw MB/s': number(throughput, 'rawMBs') ?? '',
    'throughput ratio': 'ratio' in throughput ? `${round(number(throughput, 'ratio') ?? 0, 2)}x raw` : '',
    ...(problems.length > 0 ? { problem: problems.join('; ') } : {}),
  };
}
console.log(
  '\nPer runtime: 1 KiB through a serveTransform identity child, (transform - harness) / raw round trip (target <= 3x);' +
    ' a streamed body through cat, library / raw MB/s (target >= 0.7x)\n',
);
console.table(table);
await writeSection('runtimes', section);
