import type { TransformErrorCode } from './errors.ts';

/** Latency over the most recent transforms, in milliseconds. */
export interface LatencyStats {
  /** Transforms measured (at most the last 1024). */
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * Latency of every transform since the pool was created, counted into fixed buckets (Prometheus'
 * default ones, in milliseconds here).
 */
export interface LatencyHistogram {
  /** Upper bounds of the buckets in milliseconds, ascending; the last bucket (`+Inf`) is implied. */
  bounds: readonly number[];
  /** Transforms at or under each bound, cumulative (one entry per bound). */
  counts: number[];
  /** Transforms measured, the `+Inf` bucket. */
  count: number;
  /** Their latencies added up, in milliseconds. */
  sum: number;
}

/**
 * What a live process is doing, one state at a time: `busy` while it runs a transform (its first one
 * included); otherwise `starting` until its first answer head has arrived (loading, or loaded and given no
 * work yet), then `idle`; `retiring` once it takes no more work (recycled, reloaded, closing or killed) until
 * it exits.
 */
export type ProcessState = 'starting' | 'idle' | 'busy' | 'retiring';

/** One live process of a pool. */
export interface ProcessStats {
  pid: number;
  state: ProcessState;
  /** Transforms it completed. */
  transforms: number;
  /** When it was started, in ms since the epoch (`Date.now()`). */
  startedAt: number;
  /** Messages written to it (or being written) and not yet answered. */
  onBoard: number;
  /**
   * The most messages it may hold at once: 1 until it announces that it frames by construction (a
   * `serveTransform` child does), then `pipeline`; `pipeline` from the start when that option is set.
   */
  pipeline: number;
}

/** A snapshot of a pool. */
export interface PoolStats {
  /**
   * Processes running, retiring ones included: `starting + idle + busy + retiring`, each process counted in
   * its one state (see {@link ProcessState}).
   */
  alive: number;
  /** Processes running a transform now, a first one included. */
  busy: number;
  /** Processes that have answered and wait for work. */
  idle: number;
  /** Processes that have not answered yet and run nothing (loading, or waiting for work): never `idle` too. */
  starting: number;
  /** Processes that take no more work and will exit (recycled, reloaded, closing or killed). */
  retiring: number;
  /** Transforms waiting for a free process. */
  queued: number;
  /** Processes started, replacements included. */
  started: number;
  exited: number;
  /** Processes started to replace one that exited or was retired. */
  restarted: number;
  /** Transforms answered in full. */
  ok: number;
  /**
   * Transforms that failed, before or after their head was handed out; a client that left is not a failure
   * and counts in `aborted` instead.
   */
  failed: number;
  /**
   * Transforms the client abandoned: its request's signal aborted, it cancelled the transformed body, or it
   * read nothing for `clientTimeout` while the output waited for it. One whose whole answer was already read
   * into `clientBuffer` is complete, and counts in `ok` even if its client leaves before reading it all.
   */
  aborted: number;
  /** `failed` split by error code (codes never seen are absent). */
  failedByCode: Partial<Record<TransformErrorCode, number>>;
  /** Failed transforms that failed by `timeout` (counted in `failed` too). */
  timedOut: number;
  /** Times new processes were held back because the command kept failing at start. */
  backoffs: number;
  /** Whether new processes are held back right now. */
  backingOff: boolean;
  /** From the call to the transformed head, queueing included. */
  latency: LatencyStats;
  /** The same latency for every transform so far, in fixed buckets. */
  latencyHistogram: LatencyHistogram;
  /** One entry per live process, oldest first, retiring ones included. */
  processes: ProcessStats[];
}

const WINDOW = 1024;
/** Prometheus' default histogram buckets (5 ms to 10 s), so dashboards built for other services fit. */
const BUCKET_BOUNDS_MS = Object.freeze([5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000]);

/** Counters and a ring of recent latencies; recording is O(1), percentiles are computed on demand. */
export class StatsRecorder {
  started = 0;
  exited = 0;
  restarted = 0;
  ok = 0;
  failed = 0;
  aborted = 0;
  timedOut = 0;
  backoffs = 0;
  readonly #failedByCode: Partial<Record<TransformErrorCode, number>> = {};
  readonly #latencies = new Float64Array(WINDOW);
  #recorded = 0;
  /** Per bucket, not cumulative: a transform adds to one bucket only (none past the last bound). */
  readonly #buckets = new Array<number>(BUCKET_BOUNDS_MS.length).fill(0);
  #latencySum = 0;

  delivered(latencyMs: number): void {
    this.#latencies[this.#recorded++ % WINDOW] = latencyMs;
    this.#latencySum += latencyMs;
    const bucket = BUCKET_BOUNDS_MS.findIndex((bound) => latencyMs <= bound);
    if (bucket !== -1) this.#buckets[bucket] = (this.#buckets[bucket] as number) + 1;
  }

  /** A transform ended without being answered in full: an abort when the client left, else a failure. */
  failedWith(code: string | undefined): void {
    if (code === 'ERR_TRANSFORM_ABORTED') {
      this.aborted++;
      return;
    }
    this.failed++;
    // Anything else thrown on the way counts as a failure to run the transform at all.
    const key = (code ?? 'ERR_TRANSFORM_FAILED') as TransformErrorCode;
    this.#failedByCode[key] = (this.#failedByCode[key] ?? 0) + 1;
    if (code === 'ERR_TRANSFORM_TIMEOUT') this.timedOut++;
  }

  getFailedByCode(): Partial<Record<TransformErrorCode, number>> {
    return { ...this.#failedByCode };
  }

  getLatencyHistogram(): LatencyHistogram {
    const counts: number[] = [];
    let total = 0;
    for (const inBucket of this.#buckets) {
      total += inBucket;
      counts.push(total);
    }
    return { bounds: BUCKET_BOUNDS_MS, counts, count: this.#recorded, sum: this.#latencySum };
  }

  getLatency(): LatencyStats {
    const count = Math.min(this.#recorded, WINDOW);
    const sorted = this.#latencies.slice(0, count).sort();
    const at = (q: number): number =>
      count === 0 ? 0 : (sorted[Math.min(count - 1, Math.floor(q * count))] as number);
    let sum = 0;
    for (const value of sorted) sum += value;
    return {
      count,
      mean: count === 0 ? 0 : sum / count,
      p50: at(0.5),
      p95: at(0.95),
      p99: at(0.99),
      max: at(1),
    };
  }
}
