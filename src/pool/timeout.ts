const MAX_TIMER_MS = 2 ** 31 - 1;

/** Check `timeout`: milliseconds, 0 or Infinity for none. */
export function validateTimeout(value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`Expected \`timeout\` to be a number, got ${typeof value}`);
  }
  if (value < 0 || (value !== Number.POSITIVE_INFINITY && !Number.isInteger(value))) {
    throw new RangeError(`Expected \`timeout\` to be a non-negative integer, got ${value}`);
  }
  // Timers overflow past 2^31 - 1 ms and fire at once; Infinity (or 0) is how to say "never".
  if (value !== Number.POSITIVE_INFINITY && value > MAX_TIMER_MS) {
    throw new RangeError(`Expected \`timeout\` to be at most ${MAX_TIMER_MS} ms (or Infinity), got ${value}`);
  }
  return value === 0 ? Number.POSITIVE_INFINITY : value;
}

/** Why a silence is not the transform's: the client reads slowly, or the handler's body is slow to come. */
export type PauseReason = 'reader' | 'handler';

/**
 * Fires when a transform has been silent for `ms`: no head yet, or no body chunk since the last one.
 * `touch()` is a store, not a timer reset, so a chunk costs nothing; while paused for any reason it never
 * fires.
 */
export class SilenceTimer {
  readonly #ms: number;
  readonly #onExpire: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = 0;
  readonly #pausedFor = new Set<PauseReason>();

  constructor(ms: number, onExpire: () => void) {
    this.#ms = ms;
    this.#onExpire = onExpire;
  }

  start(): void {
    if (this.#ms === Number.POSITIVE_INFINITY) return;
    this.#last = Date.now();
    this.#arm(this.#ms);
  }

  touch(): void {
    this.#last = Date.now();
  }

  pause(reason: PauseReason): void {
    this.#pausedFor.add(reason);
  }

  /** The silence is the transform's again: it is counted from now. */
  resume(reason: PauseReason): void {
    if (this.#pausedFor.delete(reason) && this.#pausedFor.size === 0) this.#last = Date.now();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#check(), ms);
  }

  #check(): void {
    if (this.#pausedFor.size > 0) {
      this.#arm(this.#ms);
      return;
    }
    const silent = Date.now() - this.#last;
    if (silent < this.#ms) {
      this.#arm(this.#ms - silent);
      return;
    }
    this.#timer = undefined;
    this.#onExpire();
  }
}
