// The reload after a watched edit, carried out: the process on trial beside the old ones (watch-trial.ts
// decides its steps), its promotion into the serving set, and the old processes kept in reserve until their
// replacements answer (edit-reserve.ts), one of them serving again when a replacement dies first; and the
// pool's own `reload()`, which replaces them all. pool.ts owns the serving set, the queue and the process
// set, and is asked for them through `ReloadPool`.
import { EditReserve } from './edit-reserve.ts';
import type { Exchange } from './exchange.ts';
import type { ProcessEvents, ProcessExit, TransformProcess } from './process.ts';
import type { WaitQueue } from './wait-queue.ts';
import { describeFailedEdit, isFailedTrial, WatchTrial } from './watch-trial.ts';

/** What the pool does when a serving process goes idle, has room, retires, fails to start or exits. */
export type ServingEvents = Pick<
  ProcessEvents,
  'onIdle' | 'onRoom' | 'onRetire' | 'onStartFailure' | 'onExit'
>;

/** What a reload after an edit may ask of its pool. */
export interface ReloadPool {
  readonly closed: boolean;
  readonly commandText: string;
  /** Processes that take work; a promoted or restored process joins it. */
  readonly serving: Set<TransformProcess>;
  readonly queue: WaitQueue<Exchange>;
  /** A proven process is told of like any other. */
  readonly events: ServingEvents;
  createProcess(events: Omit<ProcessEvents, 'shouldRetire'>): TransformProcess;
  resetBackoff(): void;
  /** The process on trial exited: counted, and no longer alive. */
  exited(process: TransformProcess): void;
  /** It takes no more work: out of the serving set and the idle list. */
  forget(process: TransformProcess): void;
  /** Start processes until the pool is full. */
  fill(): void;
}

/** The reload after a watched edit: one per pool with `watch`, idle until a change. */
export class WatchReload {
  readonly #pool: ReloadPool;
  readonly #trial = new WatchTrial<TransformProcess>();
  /** Old processes kept after a proven edit until their replacements answer. */
  readonly #reserve = new EditReserve();

  constructor(pool: ReloadPool) {
    this.#pool = pool;
  }

  /** A process spawned now replaces an old one still parked: it runs the edited sources, on trial. */
  get replacing(): boolean {
    return this.#reserve.size > 0;
  }

  /** The process on trial is idle, waiting for a new transform. */
  get trialWaiting(): boolean {
    return this.#trial.waiting;
  }

  isOnTrial(process: TransformProcess): boolean {
    return this.#trial.has(process);
  }

  /** Parked after an edit: it waits to stand in for a replacement that fails, or to retire. */
  isParked(process: TransformProcess): boolean {
    return this.#reserve.has(process);
  }

  /** The process on trial, if it waits for a new transform, takes it. */
  takeTrial(): TransformProcess | undefined {
    return this.#trial.take();
  }

  /** A watched source changed: try the new sources in one process beside the old ones (watch-trial.ts). */
  startTrial(path: string): void {
    const pool = this.#pool;
    if (pool.closed) return;
    const serving = pool.events;
    // Once proven (`trial` false) it is a serving process like any other.
    const process = pool.createProcess({
      onIdle: (idle) => (idle.trial ? this.#onTrialIdle(idle) : serving.onIdle(idle)),
      // A process on trial is never joined; once proven, it is a serving process like any other.
      onRoom: (roomy) => serving.onRoom(roomy),
      onRetire: (retiring) => {
        if (!retiring.trial) serving.onRetire(retiring);
      },
      onStarted: () => pool.resetBackoff(),
      // A trial that fails to start says the edit is broken, not that the pool cannot start: the old serve on.
      onStartFailure: (failed, exit) => serving.onStartFailure(failed, exit),
      onExit: (exited, exit) =>
        exited.trial ? this.#onTrialExit(exited, exit, path) : serving.onExit(exited, exit),
    });
    process.trial = true;
    this.#trial.start(process, path)?.retire('reload');
    this.#onTrialIdle(process);
  }

  /** The pool's `reload()`: every serving process is replaced, any trial and reserve given up. */
  async replaceAll(): Promise<void> {
    this.endTrial('reload');
    this.releaseReserve();
    const old = [...this.#pool.serving];
    // Each retiring process is replaced at once and leaves after the transform it is running.
    for (const process of old) process.retire('reload');
    await Promise.all(old.map((process) => process.closed));
  }

  /** Give up the trial, if any: its process leaves after the transform it runs. */
  endTrial(reason: 'reload' | 'close'): void {
    this.#trial.end()?.retire(reason);
  }

  /** Retire every parked process: a reload or close replaces them all anyway. */
  releaseReserve(): void {
    this.#reserve.trim(0);
  }

  /** It left by itself (an exit, a retirement): it can no longer stand in. */
  forget(process: TransformProcess): void {
    this.#reserve.forget(process);
  }

  /** Keep one parked process per replacement that has not answered yet; the oldest retire first. */
  trimReserve(): void {
    let pending = 0;
    for (const process of this.#pool.serving) if (process.trial) pending++;
    this.#reserve.trim(pending);
  }

  /** A replacement after an edit died before its first answer: the newest parked process serves again. */
  restore(failed: TransformProcess, exit: ProcessExit): void {
    const pool = this.#pool;
    const back = this.#reserve.takeNewest();
    if (back !== undefined) {
      pool.serving.add(back);
      pool.events.onIdle(back);
    }
    const outcome =
      back === undefined
        ? 'no old process is left to serve in its place'
        : 'an old process serves in its place';
    console.error(describeFailedEdit(pool.commandText, failed.pid, exit, this.#reserve.path, outcome));
    this.trimReserve();
  }

  #onTrialIdle(process: TransformProcess): void {
    const pool = this.#pool;
    // Its first transform is a new one: a retried one has failed once already and goes to a proven process.
    const idle = this.#trial.onIdle(process, pool.queue.hasNotRetried);
    switch (idle.verdict) {
      case 'retire':
        process.retire(pool.closed ? 'close' : 'reload');
        return;
      case 'promote':
        this.#promote(process, idle.path);
        return;
      case 'run':
        process.run(pool.queue.takeNotRetried() as Exchange);
        return;
      case 'wait':
        return;
    }
  }

  /**
   * The process on trial answered: it serves, and the old processes take no new work. Those that have
   * answered are parked until their replacements answer (a later broken edit then leaves them serving); the
   * others retire.
   */
  #promote(process: TransformProcess, path: string): void {
    const pool = this.#pool;
    process.trial = false;
    const old = [...pool.serving];
    pool.serving.add(process);
    this.#reserve.path = path;
    for (const parked of old) {
      pool.forget(parked);
      if (parked.answered) this.#reserve.park(parked);
      else parked.retire('reload');
    }
    pool.fill();
    this.trimReserve();
    pool.events.onIdle(process);
  }

  #onTrialExit(process: TransformProcess, exit: ProcessExit, path: string): void {
    this.#pool.exited(process);
    if (!isFailedTrial(this.#trial.onExit(process), exit)) return;
    const { commandText } = this.#pool;
    console.error(describeFailedEdit(commandText, process.pid, exit, path, 'the old processes keep serving'));
  }
}
