// Row 5 of issue #8: the peak RSS above baseline while 1 GiB streams through `cat` via the library (target: at
// most 16 MiB), next to the same bytes through a raw Node -> cat -> Node pipe. Each measurement in a fresh Node
// process (bench/memory-child.ts), the two alternating; medians. MEMORY_SIZE_MIB, ROUNDS.
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

async function measure(mode: 'library' | 'raw'): Promise<Measurement> {
  const { stdout } = await execa(process.execPath, [
    '--expose-gc',
    '--import',
    'tsx',
    child,
    mode,
    String(SIZE_MIB),
  ]);
  return JSON.parse(stdout) as Measurement;
}

const modes = ['library', 'raw'] as const;
const rounds: Record<(typeof modes)[number], Measurement[]> = { library: [], raw: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const mode of r % 2 === 0 ? modes : [...modes].reverse()) rounds[mode].push(await measure(mode));
}

const summary = (measurements: Measurement[]) => ({
  baselineMiB: round(median(measurements.map((m) => m.baselineMiB))),
  peakMiB: round(median(measurements.map((m) => m.peakMiB))),
  deltaMiB: round(median(measurements.map((m) => m.deltaMiB))),
  // Linux's VmHWM, reset after the baseline: the peak between samples too.
  hwmDeltaMiB: round(median(measurements.map((m) => m.hwmDeltaMiB ?? Number.NaN))),
});
const library = summary(rounds.library);
const raw = summary(rounds.raw);
const row = (figures: typeof library, target: string) => ({
  'baseline MiB': figures.baselineMiB,
  'peak MiB': figures.peakMiB,
  'delta MiB': figures.deltaMiB,
  'VmHWM delta MiB': figures.hwmDeltaMiB,
  target,
});
await report(
  'memory',
  `Peak RSS above baseline while ${SIZE_MIB} MiB streams through cat, a fresh Node process each, median of ${ROUNDS} rounds`,
  { 'subprocess-transform': row(library, '<= 16 MiB'), 'raw pipe': row(raw, '') },
  {
    sizeMiB: SIZE_MIB,
    rounds: ROUNDS,
    library,
    raw,
    perRound: Object.fromEntries(modes.map((mode) => [mode, rounds[mode].map((m) => round(m.deltaMiB))])),
  },
);
