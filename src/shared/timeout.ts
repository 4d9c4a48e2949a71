import { describeValue } from '../util/describe-value.ts';

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Check a timeout option (`timeout`, `startTimeout`): milliseconds, 0 or Infinity for none. */
export function validateTimeout(value: unknown, name = 'timeout'): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`Expected \`${name}\` to be a number, got ${describeValue(value)}`);
  }
  if (value < 0 || (value !== Number.POSITIVE_INFINITY && !Number.isInteger(value))) {
    throw new RangeError(`Expected \`${name}\` to be a non-negative integer, got ${value}`);
  }
  // Timers overflow past 2^31 - 1 ms and fire at once; Infinity (or 0) is how to say "never".
  if (value !== Number.POSITIVE_INFINITY && value > MAX_TIMER_MS) {
    throw new RangeError(`Expected \`${name}\` to be at most ${MAX_TIMER_MS} ms (or Infinity), got ${value}`);
  }
  return value === 0 ? Number.POSITIVE_INFINITY : value;
}

/** Why a silence is not the transform's: the client reads slowly, or the handler's body is slow to come. */
export type PauseReason = 'reader' | 'handler';

/**
 * Fires when a transform has been silent too long: `ms` between signs of life, or a longer budget given to
 * `start` for the first one (a process still loading). `touch()` is a store, not a timer reset, so a chunk
 * costs nothing; while paused for any reason it never fires. One timer per message is cheap enough: a pool
 * with no timer at all measured no faster (about 0.4 µs for a setTimeout and its clear), so no shared clock.
 */
export class SilenceTimer {
  readonly #ms: number;
  readonly #onExpire: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = 0;
  /** The silence allowed now (the start budget until the first sign of life, `ms` after); undefined: stopped. */
  #limit: number | undefined;
  readonly #pausedFor = new Set<PauseReason>();

  constructor(ms: number, onExpire: () => void) {
    this.#ms = ms;
    this.#onExpire = onExpire;
  }

  /** The silence allowed now, in ms. */
  get limit(): number {
    return this.#limit ?? this.#ms;
  }

  start(budget = this.#ms): void {
    this.#last = Date.now();
    this.#setLimit(budget);
  }

  touch(): void {
    this.#last = Date.now();
    if (this.#limit !== undefined && this.#limit !== this.#ms) this.#setLimit(this.#ms);
  }

  pause(reason: PauseReason): void {
    this.#pausedFor.add(reason);
  }

  /** The silence is the transform's again: it is counted from now. */
  resume(reason: PauseReason): void {
    if (this.#pausedFor.delete(reason) && this.#pausedFor.size === 0) this.#last = Date.now();
  }

  stop(): void {
    this.#limit = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #setLimit(limit: number): void {
    this.#limit = limit;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (limit !== Number.POSITIVE_INFINITY) this.#arm(limit);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#check(), Math.min(ms, MAX_TIMER_MS));
  }

  #check(): void {
    this.#timer = undefined;
    const limit = this.#limit;
    if (limit === undefined) return;
    if (this.#pausedFor.size > 0) {
      this.#arm(limit);
      return;
    }
    const silent = Date.now() - this.#last;
    if (silent < limit) {
      this.#arm(limit - silent);
      return;
    }
    this.#onExpire();
  }
}
