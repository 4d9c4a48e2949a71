import type { ExitReason } from '../shared/events.ts';
import type { ProcessStats, StatsRecorder } from '../shared/stats.ts';
import { describeCause } from '../util/describe-value.ts';
import {
  canRun,
  emitExit,
  type FilterProcess,
  killGroup,
  type SpawnSettings,
  spawnFilter,
} from './spawn-filter.ts';

/**
 * How many filters wait ready at most. Two covers a request arriving while the last one's replacement is
 * starting; more would only add idle processes (each holds three pipes), since a spare is started again as
 * soon as one is used. The pool caps it further so busy and ready ones together never exceed `processes`.
 */
export const SPARES = 2;

/**
 * `starting`: spawned, not yet confirmed running; `ready`: waiting on stdin; `ending`: killed by the pool
 * (close, reload), its exit awaited. A spare that exits by itself is dropped at once, never handed out.
 */
type SpareState = 'starting' | 'ready' | 'ending';

interface Spare {
  filter: FilterProcess;
  state: SpareState;
  /** Why the pool ends it, for the exit event. */
  reason: ExitReason;
  gone: Promise<void>;
  /** Removes the spare's own listeners: once taken, its exit is the run's to report. */
  detach: () => void;
}

/**
 * Filters started ahead of their responses, each used once, so a response waits only for the filter's own
 * work and not for a spawn (about 10 ms of blocked event loop for Node on a small machine).
 */
export class Spares {
  readonly #settings: SpawnSettings;
  readonly #stats: StatsRecorder;
  readonly #spares: Spare[] = [];
  // Spares start only once a filter started for a response ran, and stop after one fails to start: a
  // command that cannot run never spins spawns in the background. The next filter started for a
  // response that runs turns them on again.
  #enabled = false;

  constructor(settings: SpawnSettings, stats: StatsRecorder) {
    this.#settings = settings;
    this.#stats = stats;
  }

  /** Spares alive, ending ones included. */
  get size(): number {
    return this.#spares.length;
  }

  /** The oldest live spare, taken out of the set, or undefined when none waits. */
  take(): FilterProcess | undefined {
    if (this.#spares.length === 0) return undefined;
    if (!canRun(this.#settings.options)) {
      // The command is gone (an edit, a removed file): a spawn reports that, and the stale spares go.
      this.#enabled = false;
      void this.end('reload');
      return undefined;
    }
    // No pid: the spawn failed, and its error event has yet to drop it.
    const index = this.#spares.findIndex(
      (spare) => spare.state !== 'ending' && spare.filter.pid !== undefined,
    );
    if (index === -1) return undefined;
    const [spare] = this.#spares.splice(index, 1) as [Spare];
    spare.detach();
    return spare.filter;
  }

  /** A filter started for a response ran: the command works, spares may start. */
  enable(): void {
    this.#enabled = true;
  }

  /**
   * Start spares until `SPARES` wait, or `room` are alive.
   *
   * @param room How many spares may be alive: `processes` less the busy filters.
   */
  fill(room: number): void {
    while (this.#enabled && this.#spares.length < Math.min(SPARES, room)) this.#start();
  }

  /** Kill every spare and wait for their exits. */
  async end(reason: ExitReason): Promise<void> {
    const ending = this.#spares.filter((spare) => spare.state !== 'ending');
    for (const spare of ending) {
      spare.state = 'ending';
      spare.reason = reason;
      killGroup(spare.filter.child);
    }
    await Promise.all(this.#spares.map((spare) => spare.gone));
  }

  /** One entry per spare, for `stats().processes`. */
  list(): ProcessStats[] {
    return this.#spares
      .filter((spare) => spare.state !== 'ending')
      .map((spare) => ({
        pid: spare.filter.pid as number,
        state: spare.state === 'ready' ? 'idle' : 'starting',
        transforms: 0,
        startedAt: spare.filter.startedAt,
        // A spare holds nothing yet, and a filter only ever one response.
        onBoard: 0,
        pipeline: 1,
      }));
  }

  count(state: 'starting' | 'ready'): number {
    return this.#spares.filter((spare) => spare.state === state).length;
  }

  #start(): void {
    const filter = spawnFilter(this.#settings, 'ahead');
    const { child, pid } = filter;
    const { events, options } = this.#settings;
    let resolveGone!: () => void;
    const spare: Spare = {
      filter,
      state: 'starting',
      reason: 'crash',
      gone: new Promise((resolve) => {
        resolveGone = resolve;
      }),
      detach: () => {
        child.off('spawn', onSpawn);
        child.off('error', onError);
        child.off('exit', onExit);
      },
    };
    this.#spares.push(spare);
    this.#stats.started++;
    const drop = (): void => {
      const index = this.#spares.indexOf(spare);
      if (index !== -1) this.#spares.splice(index, 1);
      filter.forget();
      resolveGone();
    };
    const onSpawn = (): void => {
      if (spare.state === 'starting') spare.state = 'ready';
    };
    const onError = (error: Error): void => {
      if (pid !== undefined) return;
      // No process at all: the cause is logged once, and no more spares start until a filter runs.
      this.#enabled = false;
      this.#stats.started--;
      drop();
      events.emit({ type: 'spawn-error', command: options.commandText, reason: describeCause(error) });
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      // Died waiting (killed, or the prelude found no command): the pool starts no replacement until a
      // filter started for a response runs, unless it was the pool that ended it.
      if (spare.state !== 'ending') this.#enabled = false;
      this.#stats.exited++;
      drop();
      // The prelude found no command: not worth a line, the spawn a response then makes reports why.
      if (pid === undefined || (filter.readsContext && code === 127)) return;
      emitExit(this.#settings, pid, code, signal, spare.reason);
    };
    child.once('spawn', onSpawn);
    child.once('error', onError);
    child.once('exit', onExit);
  }
}
