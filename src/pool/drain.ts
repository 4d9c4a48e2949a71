// The rest of an unwanted answer (a `Transform-Error`, or a client that left), read and dropped so its
// process stays in step and is kept; past the drain's bound the process is killed instead. exchange.ts
// starts one when it stops delivering an answer.
import type { ExitReason } from '../shared/events.ts';

/** Output a process may still write after a client left, read and dropped to keep the process. */
const DRAIN_MAX_BYTES = 1024 * 1024;
const DRAIN_MAX_MS = 1000;

/** How much of an unwanted answer is dropped before the process is killed, and what the kill is for. */
export interface DrainBound {
  /** Bytes, besides the parser's `maxBodyBytes` (lifted for an answer over it on a process framed by construction). */
  readonly maxBytes: number;
  /** ms from the exchange's turn (one written behind others waits for theirs first). */
  readonly ms: number;
  /** Why the process is killed when `ms` passes. */
  readonly reason: ExitReason;
}

/**
 * A client left: a little more output is worth reading to keep a warm process; a process that goes on
 * writing is killed rather than read for someone who is gone.
 */
export const ABANDONED_DRAIN: DrainBound = Object.freeze({
  maxBytes: DRAIN_MAX_BYTES,
  ms: DRAIN_MAX_MS,
  reason: 'abort',
});

/**
 * A `Transform-Error` answer, or one over `maxBodyBytes` from a process that frames by construction: its body
 * is bounded by `timeout` in total (silence is the exchange's timer) and, but for an answer over it from such
 * a process, `maxBodyBytes` (the parser's), never by a size of its own.
 */
export function getFailedAnswerDrain(timeout: number): DrainBound {
  return { maxBytes: Number.POSITIVE_INFINITY, ms: timeout, reason: 'timeout' };
}

/** Whether `bytes` dropped so far are past the bound: the process is killed then. Pure. */
export function isPastDrainBound(bytes: number, bound: DrainBound): boolean {
  return bytes > bound.maxBytes;
}

/**
 * One drain: waiting (its clock waits for the exchange's turn) -> timing -> ended; `onPast` is told once,
 * with the kill's reason, when the bytes or the time go past the bound.
 */
export class Drain {
  readonly #bound: DrainBound;
  readonly #onPast: (reason: ExitReason) => void;
  #bytes = 0;
  #state: { kind: 'waiting' } | { kind: 'timing'; timer: ReturnType<typeof setTimeout> } | { kind: 'ended' } =
    { kind: 'waiting' };

  constructor(bound: DrainBound, onPast: (reason: ExitReason) => void) {
    this.#bound = bound;
    this.#onPast = onPast;
  }

  /** The exchange's turn: the bound in time counts from now. */
  start(): void {
    if (this.#state.kind !== 'waiting' || this.#bound.ms === Number.POSITIVE_INFINITY) return;
    const timer = setTimeout(() => this.#pass(this.#bound.reason), this.#bound.ms);
    this.#state = { kind: 'timing', timer };
  }

  /** Output read and dropped. */
  count(bytes: number): void {
    this.#bytes += bytes;
    if (isPastDrainBound(this.#bytes, this.#bound)) this.#pass('abort');
  }

  /** The answer ended, or the exchange failed: no more checks. */
  end(): void {
    if (this.#state.kind === 'timing') clearTimeout(this.#state.timer);
    this.#state = { kind: 'ended' };
  }

  #pass(reason: ExitReason): void {
    if (this.#state.kind === 'ended') return;
    this.end();
    this.#onPast(reason);
  }
}
