import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

/**
 * Spawn a program as the leader of a process group of its own, so one signal to the group reaches whatever it
 * started too. The one place in src/ that uses `node:child_process`: the watchdog and the body-filter child
 * spawn through it (execa, for the pool's processes, detaches the same way).
 *
 * @param file The program.
 * @param args Its arguments.
 * @param options As `node:child_process` takes them; `detached` is always true.
 * @returns The process; its `pid` is undefined when the spawn failed (its `error` event says why).
 */
export function spawnGroup(file: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  return spawn(file, args, { ...options, detached: true });
}

/**
 * Signal every process of a group, led by `pgid`.
 *
 * @param pgid The leader's pid; undefined (a spawn that failed) signals nothing.
 * @param signal The signal.
 * @returns False when no such group is left.
 */
export function signalGroup(pgid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pgid === undefined) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    // Already gone.
    return false;
  }
}
