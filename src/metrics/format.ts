import { isTransformPool } from '../shared/brand.ts';
import type { TransformErrorCode } from '../shared/errors.ts';
import type { PoolStats } from '../shared/stats.ts';
import type { TransformPool } from '../shared/transform-pool.ts';
import { type Family, isMetricName, type Labels, type Sample, writeExposition } from './exposition.ts';

/** Options of {@link formatMetrics}. */
export interface MetricsOptions {
  /**
   * Start of every metric name.
   * @default 'subprocess_transform'
   */
  prefix?: string;
}

/** One pool, or several by name: each name becomes the `pool` label of that pool's samples. */
export type MetricsSource = TransformPool | Readonly<Record<string, TransformPool>>;

const DEFAULT_PREFIX = 'subprocess_transform';

// Every code a failure can carry, so each `failed` series exists from the first scrape (rate() needs a 0 to
// start from); the compiler checks the list against TransformErrorCode. An abort is not a failure.
const FAILURE_CODES = Object.keys({
  ERR_TRANSFORM_SPAWN: true,
  ERR_TRANSFORM_EXIT: true,
  ERR_TRANSFORM_PROTOCOL: true,
  ERR_TRANSFORM_FAILED: true,
  ERR_TRANSFORM_TIMEOUT: true,
  ERR_TRANSFORM_QUEUE_FULL: true,
  ERR_TRANSFORM_CLOSED: true,
} satisfies Record<Exclude<TransformErrorCode, 'ERR_TRANSFORM_ABORTED'>, true>) as TransformErrorCode[];

interface Scraped {
  labels: Labels;
  stats: PoolStats;
}

type Metric = Omit<Family, 'name' | 'samples'> & {
  name: string;
  sample: (stats: PoolStats) => number;
};

/** The gauges and counters that are one number of `stats()` each. */
const METRICS: readonly Metric[] = [
  {
    name: 'processes_alive',
    type: 'gauge',
    help: 'Transform processes running, retiring ones included.',
    sample: (s) => s.alive,
  },
  {
    name: 'processes_busy',
    type: 'gauge',
    help: 'Transform processes working on a transform.',
    sample: (s) => s.busy,
  },
  {
    name: 'processes_idle',
    type: 'gauge',
    help: 'Transform processes waiting for work.',
    sample: (s) => s.idle,
  },
  {
    name: 'processes_starting',
    type: 'gauge',
    help: 'Transform processes that have not answered yet.',
    sample: (s) => s.starting,
  },
  {
    name: 'queue_depth',
    type: 'gauge',
    help: 'Transforms waiting for a free process.',
    sample: (s) => s.queued,
  },
  { name: 'transforms_ok_total', type: 'counter', help: 'Transforms answered in full.', sample: (s) => s.ok },
  {
    name: 'transforms_aborted_total',
    type: 'counter',
    help: 'Transforms the client abandoned (not failures).',
    sample: (s) => s.aborted,
  },
  {
    name: 'transforms_timed_out_total',
    type: 'counter',
    help: 'Transforms that failed by timeout (also in failed).',
    sample: (s) => s.timedOut,
  },
  {
    name: 'process_starts_total',
    type: 'counter',
    help: 'Transform processes started, replacements included.',
    sample: (s) => s.started,
  },
  {
    name: 'process_exits_total',
    type: 'counter',
    help: 'Transform processes that exited.',
    sample: (s) => s.exited,
  },
  {
    name: 'process_restarts_total',
    type: 'counter',
    help: 'Transform processes started to replace one that exited or was retired.',
    sample: (s) => s.restarted,
  },
  {
    name: 'backoff_active',
    type: 'gauge',
    help: 'Whether new processes are held back after failures at start (1) or not (0).',
    sample: (s) => (s.backingOff ? 1 : 0),
  },
  {
    name: 'backoffs_total',
    type: 'counter',
    help: 'Times new processes were held back after failures at start.',
    sample: (s) => s.backoffs,
  },
];

function getSources(source: MetricsSource): [name: string | undefined, pool: TransformPool][] {
  if (isTransformPool(source)) return [[undefined, source]];
  if (typeof source !== 'object' || source === null || Array.isArray(source)) {
    throw new TypeError(
      `Expected a transform pool or an object of them by name, got ${source === null ? 'null' : typeof source}`,
    );
  }
  return Object.entries(source).map(([name, pool]) => {
    if (!isTransformPool(pool))
      throw new TypeError(`Expected "${name}" to be a transform pool, got ${typeof pool}`);
    return [name, pool];
  });
}

function getHistogramSamples({ labels, stats }: Scraped): Sample[] {
  const { bounds, counts, count, sum } = stats.latencyHistogram;
  // Seconds, as Prometheus names and dashboards expect; the pool measures milliseconds.
  const buckets = bounds.map((bound, index) => ({
    suffix: '_bucket',
    labels: [...labels, ['le', String(bound / 1000)] as const],
    value: counts[index] as number,
  }));
  return [
    ...buckets,
    { suffix: '_bucket', labels: [...labels, ['le', '+Inf']], value: count },
    { suffix: '_sum', labels, value: sum / 1000 },
    { suffix: '_count', labels, value: count },
  ];
}

/**
 * Render the counters, gauges and latency histogram of one or more pools in the Prometheus text format
 * (version 0.0.4), for a `/metrics` endpoint: processes alive, busy, idle and starting, queue depth,
 * transforms ok, failed by `code`, aborted and timed out, process starts, exits and restarts, start backoff,
 * and `transform_duration_seconds` (from the call to the transformed head, queueing included).
 *
 * @param source A pool, or an object of pools by name (each name becomes a `pool` label).
 * @param options `prefix` of the metric names (default `subprocess_transform`).
 * @returns The exposition text, served as `text/plain; version=0.0.4; charset=utf-8`.
 * @example
 * ```ts
 * import { createTransformPool, formatMetrics } from 'subprocess-transform';
 * await using pool = createTransformPool({ command: ['cat'], processes: 1 });
 * await (await pool.transform(new Response('hello'))).text();
 * console.log(formatMetrics(pool)); // ... subprocess_transform_transforms_ok_total 1 ...
 * ```
 */
export function formatMetrics(source: MetricsSource, options: MetricsOptions = {}): string {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== 'string' || !isMetricName(prefix)) {
    throw new TypeError(
      `Expected \`prefix\` to be a metric name such as "my_app", got ${JSON.stringify(prefix)}`,
    );
  }
  // One stats() per pool, so every family of a scrape describes the same moment.
  const scraped: Scraped[] = getSources(source).map(([name, pool]) => ({
    labels: name === undefined ? [] : [['pool', name]],
    stats: pool.stats(),
  }));
  const families: Family[] = METRICS.map(({ name, sample, ...family }) => ({
    ...family,
    name: `${prefix}_${name}`,
    samples: scraped.map(({ labels, stats }) => ({ labels, value: sample(stats) })),
  }));
  families.push(
    {
      name: `${prefix}_transforms_failed_total`,
      type: 'counter',
      help: 'Transforms that failed, by error code.',
      samples: scraped.flatMap(({ labels, stats }) =>
        FAILURE_CODES.map((code) => ({
          labels: [...labels, ['code', code] as const],
          value: stats.failedByCode[code] ?? 0,
        })),
      ),
    },
    {
      name: `${prefix}_transform_duration_seconds`,
      type: 'histogram',
      help: 'Time from the call to the transformed response head, queueing included.',
      samples: scraped.flatMap(getHistogramSamples),
    },
  );
  return writeExposition(families);
}
