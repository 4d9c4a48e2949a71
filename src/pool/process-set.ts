// A pool's processes: the serving set, the idle list and every live process, and what stats() lists of
// them. pool.ts decides when each joins or leaves; which process takes which transform is dispatch.ts.
import type { ProcessStats } from '../shared/stats.ts';
import { getProcessState } from './pool-stats.ts';
import type { TransformProcess } from './process.ts';

/** The processes of one pool, by what they may take. */
export class ProcessSet {
  /** Processes that take work. */
  readonly serving = new Set<TransformProcess>();
  /** Every process not yet exited, retiring ones included. */
  readonly alive = new Set<TransformProcess>();
  readonly idle: TransformProcess[] = [];

  /** It takes no more work: out of the serving set and the idle list. */
  forget(process: TransformProcess): void {
    this.serving.delete(process);
    const index = this.idle.indexOf(process);
    if (index !== -1) this.idle.splice(index, 1);
  }

  /** The idle process to wake, if any: the first one, or with `preferAnswered` the first that has answered. */
  takeIdle(preferAnswered: boolean): TransformProcess | undefined {
    const index = preferAnswered ? this.idle.findIndex((idle) => idle.answered) : -1;
    return this.idle.splice(Math.max(index, 0), 1)[0];
  }

  /** Whether a process that takes work has answered. */
  hasAnswered(): boolean {
    for (const process of this.serving) if (process.answered) return true;
    return false;
  }

  /** Each live process, oldest first; `onTrial` says which outside the serving set still takes work. */
  list(onTrial: (process: TransformProcess) => boolean): ProcessStats[] {
    const processes: ProcessStats[] = [];
    for (const process of this.alive) {
      // A command that could not be started has no pid; it is gone in a moment and never ran.
      if (process.pid === undefined) continue;
      const { pid, transforms, startedAt, busy, answered } = process;
      const takesWork = this.serving.has(process) || onTrial(process);
      const state = getProcessState({ takesWork, busy, answered });
      processes.push({
        pid,
        state,
        transforms,
        startedAt,
        onBoard: process.inFlight,
        pipeline: process.depth,
      });
    }
    return processes;
  }
}
