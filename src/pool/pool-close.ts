// How a pool's close() ends: the work in flight and queued gets until the deadline to finish, then what
// still waits is rejected and what still runs is killed. pool.ts stops the starts and the watcher first.
import type { TransformError } from '../shared/errors.ts';
import { withDeadline } from '../util/deadline.ts';
import type { Exchange } from './exchange.ts';
import { KILL_GRACE_MS } from './group-process.ts';
import type { TransformProcess } from './process.ts';
import type { WaitQueue } from './wait-queue.ts';

/** How long close() lets work in flight and queued finish when no `timeout` is given. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

/** What ending a pool's processes needs of it. */
export interface ClosingPool {
  /** Every process not yet exited; each leaves it when it exits. */
  readonly alive: ReadonlySet<TransformProcess>;
  readonly queue: WaitQueue<Exchange>;
  readonly createClosedError: () => TransformError;
}

/**
 * Wait until every process has exited or `timeout` ms have passed; then reject the transforms still
 * waiting, kill the processes still running and wait (bounded) for their exits.
 */
export async function endProcesses(pool: ClosingPool, timeout: number): Promise<void> {
  const { alive, queue } = pool;
  const allClosed = (): Promise<unknown> => Promise.all([...alive].map((process) => process.closed));
  const deadline = Date.now() + timeout;
  // Work in flight and queued finishes; each process retires once there is nothing left for it.
  while (alive.size > 0 && Date.now() < deadline) {
    if ((await withDeadline(allClosed(), deadline - Date.now())) === 'expired') break;
  }
  for (const exchange of queue.takeAll()) exchange.reject(pool.createClosedError());
  const closed = pool.createClosedError();
  for (const process of alive) process.kill('close', closed);
  await withDeadline(allClosed(), 3 * KILL_GRACE_MS);
}
