// The transforms waiting for a process, in one FIFO line, the rule that admits a new one to it (`maxQueue`,
// the start backoff, a closed pool) and the error it refuses with. Which waiting transform a process takes
// is dispatch.ts (pure); pool.ts calls both.
import type { TransformError } from '../shared/errors.ts';
import { chooseForIdle, chooseNotRetried, type Waiting } from './dispatch.ts';
import { createClosedError, createNotStartedError, createQueueFullError } from './errors.ts';

/** Why a new transform cannot even wait for a process. */
export type Refusal = 'closed' | 'aborted' | 'failing' | 'full';

/** What the pool is like when a transform arrives. */
export interface Arrival {
  closed: boolean;
  /** Its client's signal aborted already. */
  aborted: boolean;
  /** A process takes it at once: an idle one, or the watch trial's waiting for work. */
  takenNow: boolean;
  /** Processes keep failing at start and none that takes work has answered. */
  failingAtStart: boolean;
  queued: number;
  maxQueue: number;
}

/**
 * Whether a new transform is refused, and why; pure. A closed pool and a client gone come first. A transform a
 * process takes at once is never refused: after start failures, that process is the one that may show it can
 * start. Otherwise it fails fast while processes keep failing at start, and past `maxQueue` waiting.
 */
export function judgeArrival(arrival: Arrival): Refusal | undefined {
  if (arrival.closed) return 'closed';
  if (arrival.aborted) return 'aborted';
  if (arrival.takenNow) return undefined;
  if (arrival.failingAtStart) return 'failing';
  if (arrival.queued >= arrival.maxQueue) return 'full';
  return undefined;
}

/** The error a refused transform fails with; the start failure's own error is made by its pool. */
export function createRefusalError(
  refusal: Refusal,
  command: string,
  queued: number,
  createStartError: () => TransformError,
): TransformError {
  switch (refusal) {
    case 'closed':
      return createClosedError(command);
    case 'aborted':
      return createNotStartedError(command);
    case 'failing':
      return createStartError();
    case 'full':
      return createQueueFullError(command, queued);
  }
}

/** The waiting transforms, first come first served, a retried one first in line. */
export class WaitQueue<E extends Waiting> {
  readonly #items: E[] = [];

  get length(): number {
    return this.#items.length;
  }

  /** The one first in line. */
  get first(): E | undefined {
    return this.#items[0];
  }

  /** Whether any in line was not retried: one a process on trial or with room may take. */
  get hasNotRetried(): boolean {
    return chooseNotRetried(this.#items) !== -1;
  }

  /** A new transform waits at the end of the line. */
  push(item: E): void {
    this.#items.push(item);
  }

  /** A transform whose process was found dead goes first in line for the next one. */
  pushFirst(item: E): void {
    this.#items.unshift(item);
  }

  /** It leaves the line (its client left while it waited). */
  remove(item: E): void {
    const index = this.#items.indexOf(item);
    if (index !== -1) this.#items.splice(index, 1);
  }

  /** The first that was not retried, for a busy process or the watch trial (see {@link chooseNotRetried}). */
  takeNotRetried(): E | undefined {
    return this.#take(chooseNotRetried(this.#items));
  }

  /**
   * The one an idle process takes (see {@link chooseForIdle}); `anotherAnswered` is asked only when a retried
   * one is first in line, as its scan is not free.
   */
  takeForIdle(answered: boolean, anotherAnswered: () => boolean): E | undefined {
    const retriedFirst = this.#items[0]?.retried === true && !answered;
    return this.#take(chooseForIdle(this.#items, answered, retriedFirst && anotherAnswered()));
  }

  /** Everyone in line, who leave it (the pool closes, or processes keep failing at start). */
  takeAll(): E[] {
    return this.#items.splice(0);
  }

  #take(index: number): E | undefined {
    if (index === -1) return undefined;
    return this.#items.splice(index, 1)[0];
  }
}
