/** Check `timeout`: milliseconds, 0 or Infinity for none. */
export function validateTimeout(value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`Expected \`timeout\` to be a number, got ${typeof value}`);
  }
  if (value < 0 || (value !== Number.POSITIVE_INFINITY && !Number.isInteger(value))) {
    throw new RangeError(`Expected \`timeout\` to be a non-negative integer, got ${value}`);
  }
  return value === 0 ? Number.POSITIVE_INFINITY : value;
}

/**
 * Fires when a transform has been silent for `ms`: no head yet, or no body chunk since the last one.
 * `touch()` is a store, not a timer reset, so a chunk costs nothing; while paused (the client reads slowly,
 * which is not the transform's silence) it never fires.
 */
export class SilenceTimer {
  readonly #ms: number;
  readonly #onExpire: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = 0;
  #paused = false;

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

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#last = Date.now();
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
    if (this.#paused) {
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
