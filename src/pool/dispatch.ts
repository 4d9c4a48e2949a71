// Which process takes which waiting transform: pure choices, from facts alone, so each rule reads in one
// place and a table of cases (test/pool/dispatch.test.ts) pins it down without timing.

/** What dispatch needs to know of a process. */
export interface Candidate {
  /** It is busy and may take another message behind the ones it holds. */
  readonly joinable: boolean;
  /** Messages on board. */
  readonly inFlight: number;
  /** It has answered at least once. */
  readonly answered: boolean;
}

/** What dispatch needs to know of a waiting transform. */
export interface Waiting {
  /** It ran before on a process stopped for another's fault. */
  readonly retried: boolean;
}

/**
 * The busy process a new transform joins, with no idle one: among those with room in their pipeline, the one
 * holding fewest messages (the first of them on a tie), so answers wait behind as few others as they can.
 * None with `pipeline: 1`.
 *
 * @example chooseProcess([{ joinable: true, inFlight: 2, answered: true }], 4) // that process
 */
export function chooseProcess<P extends Candidate>(busy: Iterable<P>, pipeline: number): P | undefined {
  if (pipeline === 1) return undefined;
  let best: P | undefined;
  for (const process of busy) {
    if (process.joinable && (best === undefined || process.inFlight < best.inFlight)) best = process;
  }
  return best;
}

/**
 * The waiting transform a busy process with room takes behind its others (or a process on trial after a
 * watched edit takes first): the first that was not retried.
 * A retried one waits for a process that holds nothing else: behind another client's message it could be
 * stopped for that message's fault a second time. -1: none.
 */
export function chooseNotRetried(queue: readonly Waiting[]): number {
  return queue.findIndex((waiting) => !waiting.retried);
}

/**
 * The waiting transform an idle process takes: the first, but a retried one waits for a process that has
 * answered before while there is one (`anotherAnswered`): a fresh one may still be loading, and would judge
 * it by `startTimeout`, or fail at start with it. -1: none.
 */
export function chooseForIdle(
  queue: readonly Waiting[],
  answered: boolean,
  anotherAnswered: boolean,
): number {
  const first = queue[0];
  if (first === undefined) return -1;
  if (!first.retried || answered || !anotherAnswered) return 0;
  return chooseNotRetried(queue);
}
