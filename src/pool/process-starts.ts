// How a pool starts its processes: each spawn and its counts, the failures at start, the events they send
// and the backoff after them (the policy is backoff.ts). pool.ts keeps the sets the processes serve in.

import type { TransformError } from '../shared/errors.ts';
import type { ProcessEventSink } from '../shared/events.ts';
import type { ResolvedOptions } from '../shared/pool-options.ts';
import type { StatsRecorder } from '../shared/stats.ts';
import type { GroupWatchdog } from '../shared/watchdog.ts';
import { describeCause } from '../util/describe-value.ts';
import { StartBackoff } from './backoff.ts';
import { type ProcessEvents, type ProcessExit, TransformProcess } from './process.ts';

/** What starting a process needs of its pool: settings, the event sink, the watchdog, the counters. */
export interface StartContext {
  readonly options: ResolvedOptions;
  readonly events: ProcessEventSink;
  readonly watchdog: GroupWatchdog;
  readonly stats: StatsRecorder;
}

/** The starts of one pool's processes, and the backoff while they keep failing at start. */
export class ProcessStarts {
  readonly #context: StartContext;
  readonly #backoff: StartBackoff;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(context: StartContext) {
    this.#context = context;
    this.#backoff = new StartBackoff(context.options.commandText);
  }

  /** New processes wait before they start. */
  get backingOff(): boolean {
    return this.#backoff.wait > 0;
  }

  /** Start failures in a row (see StartBackoff). */
  get failing(): boolean {
    return this.#backoff.failing;
  }

  /** A process answered: it started, the failures in a row are over. */
  reset(): void {
    this.#backoff.reset();
  }

  /** The error for work refused while processes keep failing at start. */
  createError(): TransformError {
    return this.#backoff.createError();
  }

  /**
   * Whether new processes must wait: then `retry` runs once after the backoff (one timer at a time).
   */
  holdOff(retry: () => void): boolean {
    const wait = this.#backoff.wait;
    if (wait <= 0) return false;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      retry();
    }, wait);
    return true;
  }

  /** The pool closes: no start waits any longer. */
  cancel(): void {
    clearTimeout(this.#timer);
  }

  /** Spawn one process, with the recycle policy as its `shouldRetire`; counted as started or restarted. */
  create(events: Omit<ProcessEvents, 'shouldRetire'>): TransformProcess {
    const { options, stats } = this.#context;
    const process = new TransformProcess(
      options,
      {
        ...events,
        shouldRetire: (done) =>
          options.recycle?.({
            pid: done.pid as number,
            transforms: done.transforms,
            startedAt: done.startedAt,
          }) ?? false,
      },
      this.#context.events,
      this.#context.watchdog,
    );
    if (stats.started++ >= options.processes) stats.restarted++;
    return process;
  }

  /** No process, so no exit line: the cause of a failed spawn is logged on its own, once. */
  reportSpawnError(exit: ProcessExit): void {
    if (!exit.spawnFailed) return;
    const { cwd, commandText: command } = this.#context.options;
    const reason = `${describeCause(exit.cause)}${cwd === undefined ? '' : ` (cwd "${cwd}")`}`;
    this.#context.events.emit({ type: 'spawn-error', command, reason });
  }

  /** Count an end towards the start backoff (it decides whether it is a start failure). */
  recordFailure(process: TransformProcess, exit: ProcessExit): void {
    const backoff = this.#backoff.record(process.pid, exit);
    if (backoff === undefined) return;
    this.#context.stats.backoffs++;
    this.#context.events.emit({
      type: 'backoff',
      ...(process.pid === undefined ? {} : { pid: process.pid }),
      command: this.#context.options.commandText,
      ...backoff,
    });
  }
}
