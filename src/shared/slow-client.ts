import { describeValue } from '../util/describe-value.ts';
import { validateTimeout } from './timeout.ts';

/**
 * Defaults of the slow-client bound, as nginx buffers a proxied response and ends it past `send_timeout`.
 * 1 MiB holds most pages whole, so the process is released at once and never waits on the client; an
 * answer larger than that holds its process at most `clientTimeout` past the client's last read.
 */
export const SLOW_CLIENT_DEFAULTS = Object.freeze({ clientBuffer: 1024 * 1024, clientTimeout: 5000 });

/** Check `clientBuffer`: bytes of one answer kept for its client, a non-negative integer or Infinity. */
export function validateClientBuffer(value: unknown): number {
  if (value === undefined) return SLOW_CLIENT_DEFAULTS.clientBuffer;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`Expected \`clientBuffer\` to be a number of bytes, got ${describeValue(value)}`);
  }
  if (value < 0 || (value !== Number.POSITIVE_INFINITY && !Number.isSafeInteger(value))) {
    throw new RangeError(`Expected \`clientBuffer\` to be a non-negative integer or Infinity, got ${value}`);
  }
  return value;
}

/** Check `clientTimeout`: ms a client may read nothing while its answer's output waits; 0 or Infinity: none. */
export function validateClientTimeout(value: unknown): number {
  return validateTimeout(value === undefined ? SLOW_CLIENT_DEFAULTS.clientTimeout : value, 'clientTimeout');
}

/**
 * Fires when the client of an answer has read nothing for `ms` while that answer's output is paused for it:
 * armed when the output pauses for the reader, disarmed when the reader takes bytes again. Only the time the
 * process is held counts; a client that reads slowly but steadily never trips it.
 */
export class StallTimer {
  readonly #ms: number;
  readonly #onStall: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ms: number, onStall: () => void) {
    this.#ms = ms;
    this.#onStall = onStall;
  }

  /** The output waits on the reader: the clock runs from now (from the first pause, if paused already). */
  arm(): void {
    if (this.#timer !== undefined || this.#ms === Number.POSITIVE_INFINITY) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#onStall();
    }, this.#ms);
  }

  /** The reader took bytes, or the answer no longer waits on it. */
  disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
