import { setMaxListeners } from 'node:events';
import { POOL_BRAND, type PoolBrand } from '../shared/brand.ts';
import { TransformError } from '../shared/errors.ts';
import { ProcessEventSink } from '../shared/events.ts';
import { type PoolSettings, type ResolvedOptions, resolveOptions } from '../shared/pool-options.ts';
import { type PoolStats, StatsRecorder } from '../shared/stats.ts';
import { loadTracing, startTransformTrace, type TransformTrace } from '../shared/tracing.ts';
import type { TransformInit, TransformPool } from '../shared/transform-pool.ts';
import { GroupWatchdog } from '../shared/watchdog.ts';
import { validateOutputType } from './protocol.ts';
import { type FilterSettings, runFilter } from './run-filter.ts';
import { Spares } from './spares.ts';

/** A transform waiting for a free slot. */
interface Waiting {
  start: () => void;
  reject: (error: TransformError) => void;
}

/**
 * The pool of `protocol: 'body'`, like Apache's mod_ext_filter: one process per response, at most `processes`
 * at once, the rest waiting in one FIFO queue of at most `maxQueue`. Up to two more wait ready on stdin
 * (see `Spares`), each still used once; busy and ready ones together never exceed `processes`.
 */
export class BodyPool implements TransformPool {
  readonly [POOL_BRAND]: PoolBrand;
  readonly #options: ResolvedOptions;
  readonly #settings: FilterSettings;
  readonly #stats = new StatsRecorder();
  readonly #queue: Waiting[] = [];
  readonly #idle = new Set<() => void>();
  readonly #closeTimeout = new AbortController();
  readonly #spares: Spares;
  #running = 0;
  #closed = false;

  constructor(options: PoolSettings) {
    this.#options = resolveOptions(options);
    this.#settings = {
      options: this.#options,
      outputType: validateOutputType(options.outputType),
      events: new ProcessEventSink(this.#options.onEvent),
      closed: this.#closeTimeout.signal,
      watchdog: GroupWatchdog.start(),
    };
    this.#spares = new Spares(this.#settings, this.#stats);
    this[POOL_BRAND] = Object.freeze({ decode: this.#options.decode });
    // Every running filter listens to it: up to `processes` (1024) at once, beyond the default warning at 10.
    setMaxListeners(this.#options.processes + 1, this.#closeTimeout.signal);
    void loadTracing();
  }

  async transform(response: Response, init: TransformInit = {}): Promise<Response> {
    const trace = startTransformTrace(this.#options.commandText, 'body');
    try {
      return await this.#transform(response, init, trace);
    } catch (error) {
      trace?.end(error);
      throw error;
    }
  }

  /** One run of the filter; its span (if tracing is on) ends with the process, or with the failure. */
  async #transform(
    response: Response,
    init: TransformInit,
    trace: TransformTrace | undefined,
  ): Promise<Response> {
    const started = performance.now();
    if (this.#closed) throw this.#error('ERR_TRANSFORM_CLOSED', 'The pool is closed');
    if (init.signal?.aborted) throw this.#error('ERR_TRANSFORM_ABORTED', 'The client went away');
    // A waiter is handed the slot of the run that ended (see #release): counting it again would overbook.
    if (this.#running >= this.#options.processes) await this.#wait(init.signal);
    else this.#running++;
    const spare = this.#spares.take();
    if (spare === undefined) this.#stats.started++;
    trace?.begin(spare?.pid, 1);
    try {
      const output = await runFilter(
        response,
        init,
        this.#settings,
        (outcome) => {
          this.#stats.exited++;
          trace?.end(outcome);
          if (outcome === undefined) this.#stats.ok++;
          else this.#stats.failedWith(outcome.code);
          if (spare === undefined && outcome?.code !== 'ERR_TRANSFORM_SPAWN') this.#spares.enable();
          this.#release();
        },
        spare,
      );
      this.#stats.delivered(performance.now() - started);
      return output;
    } catch (error) {
      throw error instanceof TransformError ? error : this.#error('ERR_TRANSFORM_SPAWN', String(error));
    }
  }

  stats(): PoolStats {
    const stats = this.#stats;
    return {
      alive: this.#running + this.#spares.size,
      busy: this.#running,
      idle: this.#spares.count('ready'),
      starting: this.#spares.count('starting'),
      // Spares ending (the pool closing, a stale command): alive, taking no work.
      retiring: this.#spares.size - this.#spares.count('ready') - this.#spares.count('starting'),
      queued: this.#queue.length,
      started: stats.started,
      exited: stats.exited,
      restarted: 0,
      ok: stats.ok,
      failed: stats.failed,
      aborted: stats.aborted,
      failedByCode: stats.getFailedByCode(),
      timedOut: stats.timedOut,
      // A filter that fails to start fails its own response only: there is no start loop to hold back.
      backoffs: 0,
      backingOff: false,
      latency: stats.getLatency(),
      latencyHistogram: stats.getLatencyHistogram(),
      // The spares: a busy filter is alive only while it works, none is worth listing as a pool member.
      processes: this.#spares.list(),
    };
  }

  /** Replaces the spares (filters at work finish as they are): the next response meets the new command files. */
  async reload(): Promise<void> {
    await this.#spares.end('reload');
    this.#refill();
  }

  async close({ timeout = 10_000 }: { timeout?: number } = {}): Promise<void> {
    this.#closed = true;
    try {
      await Promise.all([this.#spares.end('close'), this.#drain(timeout)]);
    } finally {
      this.#settings.watchdog.close();
    }
  }

  async #drain(timeout: number): Promise<void> {
    if (this.#running === 0 && this.#queue.length === 0) return;
    const drained = new Promise<void>((resolve) => this.#idle.add(resolve));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeout);
    });
    await Promise.race([drained, expired]);
    clearTimeout(timer);
    for (const waiting of this.#queue.splice(0)) {
      waiting.reject(this.#error('ERR_TRANSFORM_CLOSED', 'The pool closed before this transform started'));
    }
    if (this.#running === 0) return;
    // A one-shot filter has nothing to save: past the timeout it is killed outright, and close() waits for it.
    const gone = new Promise<void>((resolve) => this.#idle.add(resolve));
    this.#closeTimeout.abort();
    await gone;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.#queue.length >= this.#options.maxQueue) {
      throw this.#error('ERR_TRANSFORM_QUEUE_FULL', `${this.#queue.length} transforms are waiting already`);
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.#queue.indexOf(waiting);
        if (index !== -1) this.#queue.splice(index, 1);
        reject(this.#error('ERR_TRANSFORM_ABORTED', 'The client went away'));
      };
      const waiting: Waiting = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiting);
    });
  }

  #release(): void {
    const next = this.#queue.shift();
    if (next !== undefined) {
      next.start();
      return;
    }
    this.#running--;
    if (this.#running === 0) {
      for (const resolve of this.#idle) resolve();
      this.#idle.clear();
    }
    // After the output that just ended is on its way: a spawn blocks the event loop for milliseconds.
    setImmediate(() => this.#refill());
  }

  #refill(): void {
    if (!this.#closed) this.#spares.fill(this.#options.processes - this.#running);
  }

  #error(code: ConstructorParameters<typeof TransformError>[0], message: string): TransformError {
    this.#stats.failedWith(code);
    return new TransformError(code, message, { command: this.#options.commandText });
  }
}
