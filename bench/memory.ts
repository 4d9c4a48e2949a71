// Row 5 of issue #8: the peak RSS above baseline while 1 GiB streams through `cat` via the library (target: at
// most 16 MiB), next to the same bytes through a raw Node -> cat -> Node pipe. Each measurement in a fresh Node
// process (bench/memory-child.ts), the runs alternating; medians. The library again with a 1 MiB young
// generation tells what the library holds from what V8 lets garbage grow to. MEMORY_SIZE_MIB, ROUNDS.
import { execa } from 'execa';
import { median, report, round, setting } from './common.ts';

const SIZE_MIB = setting('MEMORY_SIZE_MIB', 1024, 32);
const ROUNDS = setting('ROUNDS', 3, 1);
const child = new URL('memory-child.ts', import.meta.url).pathname;

interface Measurement {
  baselineMiB: number;
  peakMiB: number;
  deltaMiB: number;
  hwmDeltaMiB: number | null;
}

/** What runs in each fresh process: the child's mode and Node flags. */
const RUNS = {
  'subprocess-transform': { mode: 'library', flags: [] },
  'subprocess-transform, --max-semi-space-size=1': { mode: 'library', flags: ['--max-semi-space-size=1'] },
  'raw pipe': { mode: 'raw', flags: [] },
} as const;
type RunName = keyof typeof RUNS;

async function measure(name: RunName): Promise<Measurement> {
  const { mode, flags } = RUNS[name];
  const { stdout } = await execa(process.execPath, [
    '--expose-gc',
    ...flags,
    '--import',
    'tsx',
    child,
    mode,
    String(SIZE_MIB),
  ]);
  return JSON.parse(stdout) as Measurement;
}

const names = Object.keys(RUNS) as RunName[];
const rounds = Object.fromEntries(names.map((name) => [name, [] as Measurement[]])) as Record<
  RunName,
  Measurement[]
>;
for (let r = 0; r < ROUNDS; r++) {
  // Rotate the order so no run always follows the same neighbour.
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + r) % names.length] as RunName;
    rounds[name].push(await measure(name));
  }
}

const summary = (measurements: Measurement[]) => ({
  baselineMiB: round(median(measurements.map((m) => m.baselineMiB))),
  peakMiB: round(median(measurements.map((m) => m.peakMiB))),
  deltaMiB: round(median(measurements.map((m) => m.deltaMiB))),
  // Linux's VmHWM, reset after the baseline: the peak between samples too.
  hwmDeltaMiB: round(median(measurements.map((m) => m.hwmDeltaMiB ?? Number.NaN))),
});
const summaries = Object.fromEntries(names.map((name) => [name, summary(rounds[name])])) as Record<
  RunName,
  ReturnType<typeof summary>
>;
const table = Object.fromEntries(
  names.map((name) => {
    const figures = summaries[name];
    return [
      name,
      {
        'baseline MiB': figures.baselineMiB,
        'peak MiB': figures.peakMiB,
        'delta MiB': figures.deltaMiB,
        'VmHWM delta MiB': figures.hwmDeltaMiB,
        target: name === 'subprocess-transform' ? '<= 16 MiB' : '',
      },
    ];
  }),
);
await report(
  'memory',
  `Peak RSS above baseline while ${SIZE_MIB} MiB streams through cat, a fresh Node process each, median of ${ROUNDS} rounds`,
  table,
  {
    sizeMiB: SIZE_MIB,
    rounds: ROUNDS,
    library: summaries['subprocess-transform'],
    librarySmallYoungGeneration: summaries['subprocess-transform, --max-semi-space-size=1'],
    raw: summaries['raw pipe'],
    perRound: Object.fromEntries(names.map((name) => [name, rounds[name].map((m) => round(m.deltaMiB))])),
  },
);
