import { TransformError } from '../shared/errors.ts';
import { describeCause } from '../util/describe-value.ts';
import type { ProcessExit } from './process.ts';

/** Start failures in a row after which new processes start after a backoff. */
const MAX_START_FAILURES = 2;
/** The first backoff, doubling with each further failure up to the cap. */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** The cap after a failure with a message on board: innocent work queued behind it waits no longer. */
const BACKOFF_MESSAGE_MAX_MS = 1_000;

/**
 * A process showed it cannot start: it could not be spawned, or it ended (died, or was killed by
 * `startTimeout`) without having written a byte. A process that wrote output or answered has started, so a
 * failure caused by its message (a crash on poison input, a head over the limits) never counts.
 */
function isStartFailure(exit: ProcessExit): boolean {
  if (exit.spawnFailed) return true;
  // Output with no message to answer, before any answer (a banner): no input caused it.
  if (exit.reason === 'protocol') return !exit.answered && exit.messageId === undefined;
  if (exit.answered || exit.wroteOutput) return false;
  return exit.reason === 'crash' || exit.reason === 'timeout';
}

/**
 * A start failure that shows the command cannot start whatever it is given: it could not be spawned, it
 * ended with no message on board, or it hung at start (killed by `startTimeout`, message or not). A process
 * that died without output while holding a message may have died of that message (poison), so it never
 * makes work fail fast: that message fails alone.
 */
function showsCannotStart(exit: ProcessExit): boolean {
  return exit.spawnFailed || exit.reason === 'timeout' || exit.messageId === undefined;
}

/** What went wrong, for the log line and the error: the cause of a failed spawn, or how it ended. */
export function describeStartFailure(exit: ProcessExit): string {
  if (exit.spawnFailed) return `could not be started: ${describeCause(exit.cause)}`;
  if (exit.reason === 'timeout') return 'did not answer within startTimeout';
  if (exit.reason === 'protocol') return 'broke the protocol before its first answer';
  const how =
    exit.signal !== undefined ? `was killed with ${exit.signal}` : `exited with code ${exit.exitCode}`;
  return `${how} before its first answer`;
}

/**
 * Counts the start failures in a row of one pool's command, until a process answers. From the
 * {@link MAX_START_FAILURES}th, new processes wait an exponential backoff (100 ms, doubling up to 10 s). A
 * failure with a message on board counts once per message, and the wait after it is capped at 1 s: innocent
 * work queued behind a burst of poison waits briefly and goes to the next process, while each poisoned
 * message fails alone. Work fails fast with `ERR_TRANSFORM_SPAWN`, carrying the last failure, only while the
 * row is that long and its last failure {@link showsCannotStart shows the command cannot start}.
 */
export class StartBackoff {
  readonly #command: string;
  #failures = 0;
  /** The messages on board at the failures of this row. */
  readonly #messages = new Set<string>();
  #until = 0;
  #last: TransformError | undefined;
  #lastReason = '';
  /** The row's last failure showed the command cannot start whatever it is given. */
  #cannotStart = false;

  constructor(command: string) {
    this.#command = command;
  }

  /** Milliseconds until a process may start again (0: now). */
  get wait(): number {
    return Math.max(0, this.#until - Date.now());
  }

  /** Enough start failures in a row, the last one input's fault in no way, that work fails fast. */
  get failing(): boolean {
    return this.#failures >= MAX_START_FAILURES && this.#cannotStart;
  }

  /** A process answered: the command can start. */
  reset(): void {
    this.#failures = 0;
    this.#messages.clear();
    this.#until = 0;
    this.#cannotStart = false;
  }

  /** Count an exit; returns the new backoff's delay and reason, or undefined when there is none. */
  record(
    pid: number | undefined,
    exit: ProcessExit,
  ): { delay: number; failures: number; reason: string } | undefined {
    if (!isStartFailure(exit)) return undefined;
    if (exit.messageId !== undefined) {
      if (this.#messages.has(exit.messageId)) return undefined;
      this.#messages.add(exit.messageId);
    }
    this.#failures++;
    this.#cannotStart = showsCannotStart(exit);
    const reason = describeStartFailure(exit);
    this.#lastReason = reason;
    this.#last = new TransformError(
      exit.spawnFailed ? 'ERR_TRANSFORM_SPAWN' : 'ERR_TRANSFORM_EXIT',
      `Transform "${this.#command}"${pid === undefined ? '' : ` (pid ${pid})`} ${reason}`,
      { command: this.#command, pid, exitCode: exit.exitCode, signal: exit.signal, stderr: exit.stderr },
    );
    const cap = this.#cannotStart ? BACKOFF_MAX_MS : BACKOFF_MESSAGE_MAX_MS;
    const delay =
      this.#failures >= MAX_START_FAILURES
        ? Math.min(BACKOFF_FIRST_MS * 2 ** (this.#failures - MAX_START_FAILURES), cap)
        : 0;
    this.#until = Date.now() + delay;
    return delay > 0 ? { delay, failures: this.#failures, reason } : undefined;
  }

  /** The error for a transform refused while backing off, with the last failure's details. */
  createError(): TransformError {
    const last = this.#last;
    return new TransformError(
      'ERR_TRANSFORM_SPAWN',
      `Transform "${this.#command}" keeps failing at start (${this.#failures} times in a row, last: ${this.#lastReason}); next start in ${this.wait} ms`,
      {
        cause: last,
        command: this.#command,
        exitCode: last?.exitCode,
        signal: last?.signal,
        stderr: last?.stderr,
      },
    );
  }
}
