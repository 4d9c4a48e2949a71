import { TransformError } from '../errors.ts';
import type { ProcessExit } from './process.ts';

/** Backoff after the second start failure in a row, doubling up to the cap. */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** A process that dies sooner than this without answering once counts as failing to start. */
const STARTUP_WINDOW_MS = 2000;

/**
 * Dying before the first answer is failing to start: soon after start (even with work in hand: with steady
 * traffic every new process gets some, and that must not become a spawn loop), killed by `startTimeout`, or
 * killed for breaking the protocol before answering once (a banner on stdout).
 */
function isStartFailure(exit: ProcessExit): boolean {
  if (exit.answered) return false;
  if (exit.spawnFailed || exit.reason === 'timeout' || exit.reason === 'protocol') return true;
  return exit.reason === 'crash' && exit.uptime <= STARTUP_WINDOW_MS;
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

/** The first line of an error, with its `code` (ENOENT, EACCES) first. */
export function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const line = cause.message.split('\n')[0] ?? '';
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' && !line.includes(code) ? `${code}: ${line}` : line;
}

/**
 * Counts the start failures in a row of one pool's command: after the second, new processes wait an
 * exponential backoff, and transforms with no process to wait for fail fast with `ERR_TRANSFORM_SPAWN`
 * carrying the last failure.
 */
export class StartBackoff {
  readonly #command: string;
  #failures = 0;
  #until = 0;
  #last: TransformError | undefined;
  #lastReason = '';

  constructor(command: string) {
    this.#command = command;
  }

  /** Milliseconds until a process may start again (0: now). */
  get wait(): number {
    return Math.max(0, this.#until - Date.now());
  }

  /** Count an exit; returns the new backoff's delay and reason, or undefined when there is none. */
  record(
    pid: number | undefined,
    exit: ProcessExit,
  ): { delay: number; failures: number; reason: string } | undefined {
    if (!isStartFailure(exit)) {
      this.#failures = 0;
      return undefined;
    }
    this.#failures++;
    const reason = describeStartFailure(exit);
    this.#lastReason = reason;
    this.#last = new TransformError(
      exit.spawnFailed ? 'ERR_TRANSFORM_SPAWN' : 'ERR_TRANSFORM_EXIT',
      `Transform "${this.#command}" (pid ${pid ?? 'none'}) ${reason}`,
      { command: this.#command, pid, exitCode: exit.exitCode, signal: exit.signal, stderr: exit.stderr },
    );
    const delay =
      this.#failures < 2 ? 0 : Math.min(BACKOFF_FIRST_MS * 2 ** (this.#failures - 2), BACKOFF_MAX_MS);
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
