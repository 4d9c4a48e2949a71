// The facade: it decides when a process joins or leaves its set (process-set.ts: the serving set, the idle
// list, the live processes). Its parts: the wait queue and the rule that admits a transform to it
// (wait-queue.ts), which process takes which transform (dispatch.ts, pure), what each exchange is made of
// (exchange-parts.ts), the reload, after a watched edit or asked (watch-reload.ts, with its trial in
// watch-trial.ts), the end of close() (pool-close.ts), what stats() reports (pool-stats.ts), one process
// (process.ts) and how each is started (process-starts.ts, with the backoff policy in backoff.ts), one
// transform (exchange.ts). Next to move: fill and spawn, and one dispatch loop that re-checks the whole state
// after any event (undici's `_resume`) in place of #enqueue, #onRoom, #onIdle and #drainQueueIfNoProcess.
import { POOL_BRAND, type PoolBrand } from '../shared/brand.ts';
import type { TransformError } from '../shared/errors.ts';
import { ProcessEventSink } from '../shared/events.ts';
import { type PoolSettings, type ResolvedOptions, resolveOptions } from '../shared/pool-options.ts';
import { type PoolStats, StatsRecorder } from '../shared/stats.ts';
import { loadTracing, type TraceIdentity } from '../shared/tracing.ts';
import type { TransformInit, TransformPool } from '../shared/transform-pool.ts';
import { SourceWatcher } from '../shared/watch.ts';
import { GroupWatchdog } from '../shared/watchdog.ts';
import { chooseProcess } from './dispatch.ts';
import { createClosedError } from './errors.ts';
import { Exchange, type ExchangeOwner } from './exchange.ts';
import { createExchangeInit, createExchangeOwner } from './exchange-parts.ts';
import { DEFAULT_CLOSE_TIMEOUT_MS, endProcesses } from './pool-close.ts';
import { summarizeStats } from './pool-stats.ts';
import type { ProcessEvents, ProcessExit, TransformProcess } from './process.ts';
import { ProcessSet } from './process-set.ts';
import { ProcessStarts } from './process-starts.ts';
import { createRefusalError, judgeArrival, WaitQueue } from './wait-queue.ts';
import { type ServingEvents, WatchReload } from './watch-reload.ts';

/**
 * The pool: a facade over its processes and one FIFO queue. An idle process is picked first (the one idle
 * longest, so all stay warm); otherwise a busy one with room in its pipeline (the one holding fewest);
 * otherwise the transform waits. Processes that exit are replaced, with an
 * exponential backoff while they keep dying at start.
 */
export class Pool implements TransformPool {
  readonly options: ResolvedOptions;
  readonly [POOL_BRAND]: PoolBrand;
  readonly #processes = new ProcessSet();
  readonly #queue = new WaitQueue<Exchange>();
  readonly #stats = new StatsRecorder();
  /** Kills the processes' groups if this parent dies without running its exit hook. */
  readonly #watchdog: GroupWatchdog;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #starts: ProcessStarts;
  readonly #watcher: SourceWatcher | undefined;
  /** What a serving process's events do; a process on trial falls back on them once proven. */
  readonly #servingEvents: ServingEvents = {
    onIdle: (idle) => this.#onIdle(idle),
    onRoom: (roomy) => this.#onRoom(roomy),
    onRetire: (retiring) => this.#onRetire(retiring),
    onStartFailure: (failed, exit) => {
      if (!failed.trial) this.#starts.recordFailure(failed, exit);
    },
    onExit: (exited, exit) => this.#onExit(exited, exit),
  };
  readonly #reload: WatchReload;
  /** What every exchange of this pool shares: settings, statistics, the queue. */
  readonly #owner: ExchangeOwner;

  /** What each transform's span names: this pool's command, or the filter a pool of filter children runs. */
  readonly #traceAs: TraceIdentity;

  constructor(options: PoolSettings, traceAs?: TraceIdentity) {
    this.options = resolveOptions(options);
    this.#traceAs = traceAs ?? { command: this.options.commandText, protocol: 'http' };
    this[POOL_BRAND] = Object.freeze({ decode: this.options.decode });
    this.#watchdog = GroupWatchdog.start();
    this.#starts = new ProcessStarts({
      options: this.options,
      events: new ProcessEventSink(this.options.onEvent),
      watchdog: this.#watchdog,
      stats: this.#stats,
    });
    void loadTracing();
    this.#owner = createExchangeOwner(this.options, this.#stats, this.#queue, (retried) =>
      this.#requeue(retried),
    );
    this.#reload = this.#createReload();
    this.#fill();
    const { watch } = this.options;
    if (watch !== undefined)
      this.#watcher = new SourceWatcher(watch, (path) => this.#reload.startTrial(path));
  }

  /** Settles once the `watch` paths are being watched (at once when there are none). */
  get watching(): Promise<void> {
    return this.#watcher?.ready ?? Promise.resolve();
  }

  async transform(response: Response, init: TransformInit = {}): Promise<Response> {
    return this.start(response, init).result;
  }

  /** Start a transform and return its exchange, which can give back the original response on failure. */
  start(response: Response, init: TransformInit = {}): Exchange {
    const exchange = new Exchange(
      createExchangeInit(response, init, this.options, this.#traceAs),
      this.#owner,
    );
    const refusal = this.#refuse(init.signal);
    if (refusal !== undefined) exchange.reject(refusal);
    else this.#enqueue(exchange);
    return exchange;
  }

  stats(): PoolStats {
    const processes = this.#processes.list((process) => this.#reload.isOnTrial(process));
    const queued = this.#queue.length;
    return summarizeStats(processes, this.#stats, { queued, backingOff: this.#starts.backingOff });
  }

  reload(): Promise<void> {
    return this.#reload.replaceAll();
  }

  close(options: { timeout?: number } = {}): Promise<void> {
    this.#closed = true;
    this.#reload.endTrial('close');
    this.#closing ??= this.#close(options.timeout ?? DEFAULT_CLOSE_TIMEOUT_MS);
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(timeout: number): Promise<void> {
    this.#starts.cancel();
    await this.#watcher?.close();
    this.#reload.releaseReserve();
    for (const process of this.#processes.idle.splice(0)) process.retire('close');
    await endProcesses(
      { alive: this.#processes.alive, queue: this.#queue, createClosedError: () => this.#closedError() },
      timeout,
    );
    this.#watchdog.close();
  }

  #closedError(): TransformError {
    return createClosedError(this.options.commandText);
  }

  /** Why a new transform cannot even wait for a process, if it cannot (see {@link judgeArrival}). */
  #refuse(signal: AbortSignal | undefined): TransformError | undefined {
    const command = this.options.commandText;
    const queued = this.#queue.length;
    const refusal = judgeArrival({
      closed: this.#closed,
      aborted: signal?.aborted === true,
      takenNow: this.#processes.idle.length > 0 || this.#reload.trialWaiting,
      // Asked only when it matters: the scan of the serving set is not free.
      failingAtStart: this.#isFailingAtStart(),
      queued,
      maxQueue: this.options.maxQueue,
    });
    if (refusal === undefined) return undefined;
    return createRefusalError(refusal, command, queued, () => this.#starts.createError());
  }

  #enqueue(exchange: Exchange): void {
    const process =
      this.#reload.takeTrial() ??
      this.#processes.idle.shift() ??
      chooseProcess(this.#processes.serving, this.options.pipeline);
    if (process !== undefined) process.run(exchange);
    else this.#queue.push(exchange);
  }

  /**
   * A busy process finished a message and has room: it takes the first waiting transform that was not
   * retried (a retried one waits for a process that holds nothing else).
   */
  #onRoom(process: TransformProcess): void {
    if (!process.joinable) return;
    const next = this.#queue.takeNotRetried();
    if (next !== undefined) process.run(next);
  }

  /** A transform whose process was found dead goes first in line for the next one. */
  #requeue(exchange: Exchange): void {
    if (this.#closed) {
      exchange.reject(this.#closedError());
      return;
    }
    this.#queue.pushFirst(exchange);
    this.#drainQueueIfNoProcess();
  }

  /** Start processes until the pool is full, unless closing or backing off. */
  #fill(): void {
    if (this.#closed) return;
    if (this.#starts.holdOff(() => this.#fill())) return;
    while (this.#processes.serving.size < this.options.processes) this.#spawn();
  }

  #spawn(): void {
    const process = this.#createProcess({
      ...this.#servingEvents,
      onStarted: (started) => {
        this.#starts.reset();
        // A replacement after an edit has answered: one old process less is needed in reserve.
        started.trial = false;
        this.#reload.trimReserve();
      },
    });
    // While old processes are parked after an edit, a new one runs the edited sources: dying before its first
    // answer is the edit's fault (its message is retried, unless startTimeout killed it: a timeout is never
    // retried), and an old process takes its place.
    process.trial = this.#reload.replacing;
    this.#processes.serving.add(process);
    this.#onIdle(process);
  }

  #createProcess(events: Omit<ProcessEvents, 'shouldRetire'>): TransformProcess {
    const process = this.#starts.create(events);
    this.#processes.alive.add(process);
    return process;
  }

  /** The reload after a watched edit, given the parts of this pool it works on. */
  #createReload(): WatchReload {
    const pool = this;
    return new WatchReload({
      get closed() {
        return pool.#closed;
      },
      commandText: this.options.commandText,
      serving: this.#processes.serving,
      queue: this.#queue,
      events: this.#servingEvents,
      createProcess: (events) => this.#createProcess(events),
      resetBackoff: () => this.#starts.reset(),
      exited: (process) => {
        this.#stats.exited++;
        this.#processes.alive.delete(process);
      },
      forget: (process) => this.#forget(process),
      fill: () => this.#fill(),
    });
  }

  #onIdle(process: TransformProcess): void {
    // Parked after an edit: it waits to stand in for a replacement that fails, or to retire.
    if (this.#reload.isParked(process)) return;
    // A retried one first in line waits for a process that has answered, while another one has (asked only
    // when this one has not answered, so any that has is another).
    const next = this.#queue.takeForIdle(process.answered, () => this.#processes.hasAnswered());
    if (next !== undefined) {
      process.run(next);
      return;
    }
    if (this.#closed) {
      process.retire('close');
      return;
    }
    this.#processes.idle.push(process);
  }

  #onRetire(process: TransformProcess): void {
    this.#forget(process);
    this.#fill();
    this.#drainQueueIfNoProcess();
  }

  /** It takes no more work: out of the serving set and the idle list. */
  #forget(process: TransformProcess): void {
    this.#reload.forget(process);
    this.#processes.forget(process);
  }

  #onExit(process: TransformProcess, exit: ProcessExit): void {
    this.#starts.reportSpawnError(exit);
    this.#stats.exited++;
    this.#processes.alive.delete(process);
    const serving = this.#processes.serving.has(process);
    this.#forget(process);
    if (serving && process.trial && !exit.answered) this.#reload.restore(process, exit);
    else if (!exit.counted) this.#starts.recordFailure(process, exit);
    this.#fill();
    this.#drainQueueIfNoProcess();
  }

  /** Start failures in a row, and no process that can take work has answered yet. */
  #isFailingAtStart(): boolean {
    return this.#starts.failing && !this.#processes.hasAnswered();
  }

  /** While processes keep failing at start, waiting transforms fail fast, except one for an idle process. */
  #drainQueueIfNoProcess(): void {
    if (this.#processes.idle.length > 0) {
      // A retried transform first in line goes to an idle process that has answered before, if there is one.
      this.#onIdle(this.#processes.takeIdle(this.#queue.first?.retried === true) as TransformProcess);
      return;
    }
    if (!this.#isFailingAtStart()) return;
    for (const exchange of this.#queue.takeAll()) exchange.reject(this.#starts.createError());
  }
}
