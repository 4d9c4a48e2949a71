// What the pool hears from one of its processes (process.ts), and how a process ends for it
// (process-exit.ts). Generic in the process so that this module names no TransformProcess: process.ts and
// the pool's modules both import it, without an import cycle.
import type { ProcessExit } from './process-exit.ts';

/** What the pool hears from a process `P`; events flow one way, process to pool. */
export interface ProcessEvents<P> {
  /** Ready for the next transform. */
  onIdle(process: P): void;
  /** Busy, with room in its pipeline for another message: it finished one and holds others. */
  onRoom(process: P): void;
  /** It will take no more work: the pool may start its replacement. */
  onRetire(process: P): void;
  /** Its first answer head arrived: it has started. */
  onStarted(process: P): void;
  /** It was killed by `startTimeout` without a byte of output: a start failure, counted before its replacement starts. */
  onStartFailure(process: P, exit: ProcessExit): void;
  /** It exited and every pipe is closed. */
  onExit(process: P, exit: ProcessExit): void;
  /** Ask the recycle policy whether to retire after a transform. */
  shouldRetire(process: P): boolean | Promise<boolean>;
}
