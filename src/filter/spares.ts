import type { ExitReason } from '../shared/events.ts';
import { describeCause } from '../util/describe-value.ts';
import { canRun, type FilterProcess, killFilter, type SpawnSettings, spawnFilter } from './filter-process.ts';
import { reportEvent } from './report.ts';

/**
 * How many filters wait ready at most in one filter child. Two covers a response arriving while the last
 * one's replacement is starting; more would only add idle processes (each holds two pipes).
 */
const SPARES = 2;

/** `starting`: spawned, not yet confirmed running; `ready`: waiting on stdin. One that exits is dropped. */
type SpareState = 'starting' | 'ready';

interface Spare {
  filter: FilterProcess;
  state: SpareState;
  /** Removes the spare's own listeners: once taken, its exit is the run's to watch. */
  detach: () => void;
}

/**
 * Filters started ahead of their responses, each used once, so a response waits only for the filter's own
 * work and not for a spawn. They are started in the filter child, after the answer that used the last one is
 * out: the server itself never forks per response.
 */
export class Spares {
  readonly #settings: SpawnSettings;
  readonly #spares: Spare[] = [];
  // Spares start only once a filter started for a response ran, and stop after one fails to start or dies
  // waiting: a command that cannot run never spins spawns in the background. The next filter started for a
  // response that runs turns them on again.
  #enabled = false;

  constructor(settings: SpawnSettings) {
    this.#settings = settings;
  }

  /** The oldest live spare, taken out of the set, or undefined when none waits. */
  take(): FilterProcess | undefined {
    if (this.#spares.length === 0) return undefined;
    if (!canRun(this.#settings)) {
      // The command is gone (an edit, a removed file): a spawn reports that, and the stale spares go.
      this.#enabled = false;
      this.end('reload');
      return undefined;
    }
    // No pid: the spawn failed, and its error event has yet to drop it.
    const index = this.#spares.findIndex((spare) => spare.filter.pid !== undefined);
    if (index === -1) return undefined;
    const [spare] = this.#spares.splice(index, 1) as [Spare];
    spare.detach();
    return spare.filter;
  }

  /** A filter started for a response ran (true) or could not start (false): spares may start, or may not. */
  enable(enabled: boolean): void {
    this.#enabled = enabled;
  }

  /** Start spares until `SPARES` wait. */
  fill(): void {
    // A start that fails at once ends the round: its cause is logged once.
    while (this.#enabled && this.#spares.length < SPARES && this.#start()) {}
  }

  /** Kill every spare. */
  end(reason: ExitReason): void {
    for (const spare of this.#spares.splice(0)) {
      spare.detach();
      killFilter(spare.filter);
      const { child, pid, forget } = spare.filter;
      child.once('exit', (code, signal) => {
        forget();
        if (pid !== undefined)
          reportEvent({ type: 'exit', pid, code: code ?? undefined, signal: signal ?? undefined, reason });
      });
    }
  }

  /** Start one spare; false when it could not be spawned. */
  #start(): boolean {
    const filter = spawnFilter(this.#settings, 'ahead');
    const { child } = filter;
    const spare: Spare = {
      filter,
      state: 'starting',
      detach: () => {
        child.off('spawn', onSpawn);
        child.off('error', onError);
        child.off('exit', onExit);
      },
    };
    this.#spares.push(spare);
    const drop = (): void => {
      const index = this.#spares.indexOf(spare);
      if (index !== -1) this.#spares.splice(index, 1);
      filter.forget();
    };
    const onSpawn = (): void => {
      spare.state = 'ready';
    };
    const onError = (error: Error): void => {
      if (filter.pid !== undefined) return;
      // No process at all: the cause is logged once, and no more spares start until a filter runs.
      this.#enabled = false;
      drop();
      reportEvent({ type: 'spawn-error', reason: describeCause(error) });
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      // Died waiting (killed from outside, or the prelude found no command): none is started again until a
      // filter started for a response runs.
      this.#enabled = false;
      drop();
      // The prelude found no command: not worth a line, the spawn a response then makes reports why.
      if (filter.pid === undefined || (filter.readsContext && code === 127)) return;
      reportEvent({
        type: 'exit',
        pid: filter.pid,
        code: code ?? undefined,
        signal: signal ?? undefined,
        reason: 'crash',
      });
    };
    child.once('spawn', onSpawn);
    child.once('error', onError);
    child.once('exit', onExit);
    return filter.pid !== undefined;
  }
}
