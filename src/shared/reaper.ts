import { signalGroup } from './process-group.ts';

// Transform processes run in their own process groups, which execa's cleanup does not reach: kill them
// ourselves when the parent exits. (A parent killed by a signal cannot run this; the processes then see
// stdin close, and transforms exit on that.)

const groups = new Set<number>();
let installed = false;

function killAll(): void {
  for (const pid of groups) signalGroup(pid, 'SIGKILL');
}

/** Kill the process group of `pid` when the parent exits; returns the function that forgets it. */
export function killOnParentExit(pid: number): () => void {
  if (!installed) {
    installed = true;
    process.on('exit', killAll);
  }
  groups.add(pid);
  return () => groups.delete(pid);
}
