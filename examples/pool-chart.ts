// The /pool page's chart: requests per second and p95 latency over the last minutes, sampled from stats()
// once a second on the server and drawn as inline SVG (no library, no script: the page swaps it in whole).
import type { PoolStats } from '../src/index.ts';

/** One second of the pool, as the chart draws it. */
export interface Sample {
  /** Transforms that ended in the second before (answered, failed or aborted), per second. */
  rate: number;
  /** The pool's p95 latency then, in ms (over its recent transforms). */
  p95: number;
}

/** Seconds of history kept and drawn. */
const HISTORY_SECONDS = 180;
const SAMPLE_MS = 1000;

/**
 * Sample `getStats()` every second into a ring of {@link HISTORY_SECONDS} samples, counting from a pool that has
 * ended no transform yet (pass a fresh pool). The timer does not keep the process alive.
 *
 * @returns The samples so far, oldest first.
 */
export function recordHistory(getStats: () => PoolStats): () => Sample[] {
  const samples: Sample[] = [];
  const ended = (stats: PoolStats): number => stats.ok + stats.failed + stats.aborted;
  // Counted from zero now, not from the first tick: the pool may be made after this is called (its counters
  // start at zero then), and transforms that end before the first tick still belong in the first second.
  let last = { at: performance.now(), ended: 0 };
  setInterval(() => {
    const stats = getStats();
    const now = { at: performance.now(), ended: ended(stats) };
    const seconds = (now.at - last.at) / 1000;
    samples.push({ rate: (now.ended - last.ended) / seconds, p95: stats.latency.p95 });
    if (samples.length > HISTORY_SECONDS) samples.shift();
    last = now;
  }, SAMPLE_MS).unref();
  return () => [...samples];
}

const WIDTH = 600;
const HEIGHT = 140;
const TOP = 20;
const BOTTOM = 120;

/** The points of one series, scaled so that `max` touches the top; the newest sample is at the right edge. */
function toPoints(values: number[], max: number): string {
  const step = WIDTH / (HISTORY_SECONDS - 1);
  const offset = HISTORY_SECONDS - values.length;
  return values
    .map((value, index) => {
      const x = (offset + index) * step;
      const y = BOTTOM - (max > 0 ? (value / max) * (BOTTOM - TOP) : 0);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}

const format = (value: number): string => (value < 10 ? value.toFixed(1) : value.toFixed(0));

/** The chart as an `<svg id="chart">`, each series scaled to its own maximum, which is written beside it. */
export function renderChart(samples: Sample[]): string {
  const rates = samples.map((sample) => sample.rate);
  const p95s = samples.map((sample) => sample.p95);
  const maxRate = Math.max(0, ...rates);
  const maxP95 = Math.max(0, ...p95s);
  const minutes = HISTORY_SECONDS / 60;
  return `<svg id="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="100%" role="img" aria-label="Requests per second and p95 latency over the last ${minutes} minutes" data-samples="${samples.length}">
<line x1="0" y1="${BOTTOM}" x2="${WIDTH}" y2="${BOTTOM}" class="axis"/>
<polyline class="rate" fill="none" points="${toPoints(rates, maxRate)}"/>
<polyline class="p95" fill="none" points="${toPoints(p95s, maxP95)}"/>
<text x="0" y="12" class="rate">req/s (max ${format(maxRate)})</text>
<text x="${WIDTH}" y="12" text-anchor="end" class="p95">p95 ms (max ${format(maxP95)})</text>
<text x="0" y="${HEIGHT - 4}" class="axis">${minutes} min ago</text>
<text x="${WIDTH}" y="${HEIGHT - 4}" text-anchor="end" class="axis">now</text>
</svg>`;
}
