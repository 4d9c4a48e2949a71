// Every error the pool makes, built here: the wording of each message is stated once, and a log line or a
// test that looks for it finds one source (piscina keeps its `Errors` the same way).
import { TransformError, type TransformErrorCode } from '../shared/errors.ts';
import { describeCause } from '../util/describe-value.ts';
import type { Output } from './exchange-verdicts.ts';

/** How a process ended, as far as its error says: the exit code or the signal. */
export interface ExitStatus {
  exitCode: number | undefined;
  signal: string | undefined;
}

/** What a process error names besides its message. */
export interface ProcessContext {
  command: string;
  pid: number | undefined;
  /** The last few KiB of its stderr, for logs (never shown to HTTP clients). */
  stderr: string | undefined;
}

/** What went wrong with one process and one message, each the tail of a message naming the process. */
export const PROCESS_FAULTS = Object.freeze({
  goneBeforeRead: 'was gone before it read its message',
  stoppedForEarlier: 'was stopped for an earlier message in its pipeline before it answered this one',
  wroteMore: 'wrote more after its answer: a second response, or a body longer than its Content-Length',
  outputWhileIdle: 'wrote output while no transform was in flight',
  closedStdout: 'closed its stdout before its response was complete',
  staleAnswer: (id: string) =>
    `wrote a second answer to a message it answered before (Transform-Request-Id ${id})`,
  brokeProtocol: (detail: string) => `broke the protocol: ${detail}`,
  exited: ({ exitCode, signal }: ExitStatus) =>
    `${signal !== undefined ? `was killed with ${signal}` : `exited with code ${exitCode}`} before its response was complete`,
});

/** What ended one exchange, each the tail of a message naming its process. */
export const EXCHANGE_FAULTS = Object.freeze({
  clientLeft: 'was abandoned: the client went away',
  clientStalled: (clientTimeout: number) =>
    `was abandoned: its client read nothing for ${clientTimeout} ms (clientTimeout) while the process waited on it`,
  couldNotTransform: (reason: string) => `could not transform the response: ${reason}`,
  overBodyLimit: (detail: string) => `answered over limits.maxBodyBytes: ${detail}`,
  timedOut: describeTimeout,
});

/** What a timeout says the transform did not do, given how far its output got; pure. */
export function describeTimeout(
  output: Output,
  clock: { answered: boolean; timeout: number; startTimeout: number },
): string {
  const { answered, timeout, startTimeout } = clock;
  if (output === 'none' && !answered) {
    return `did not answer its first message within startTimeout (${startTimeout} ms from its start)`;
  }
  const what = {
    none: 'did not answer',
    started: 'fell silent in the middle of its response',
    answered: 'did not read the rest of its input',
  }[output];
  return `${what} within ${timeout} ms`;
}

/** `Transform "<command>" (pid <pid>)`: how every process message begins. */
export function describeProcess(command: string, pid: number | undefined): string {
  return `Transform "${command}" (pid ${pid ?? 'none'})`;
}

/** An error about one process: its command, pid and stderr tail, and how it ended when it did. */
export function createProcessError(
  context: ProcessContext,
  code: TransformErrorCode,
  fault: string,
  cause?: unknown,
  exit?: ExitStatus,
): TransformError {
  return new TransformError(code, `${describeProcess(context.command, context.pid)} ${fault}`, {
    cause,
    command: context.command,
    pid: context.pid,
    exitCode: exit?.exitCode,
    signal: exit?.signal,
    stderr: context.stderr,
  });
}

/** The command could not be started at all. */
export function createSpawnError(command: string, cwd: string | undefined, cause: unknown): TransformError {
  const where = cwd === undefined ? '' : ` (cwd "${cwd}")`;
  return new TransformError(
    'ERR_TRANSFORM_SPAWN',
    `Transform "${command}" could not be started: ${describeCause(cause)}${where}`,
    { cause, command },
  );
}

/** A transform refused, or ended while it waited, because the pool is closed. */
export function createClosedError(command: string): TransformError {
  return new TransformError('ERR_TRANSFORM_CLOSED', `Transform pool for "${command}" is closed`, { command });
}

/** A transform refused because its client had left already. */
export function createNotStartedError(command: string): TransformError {
  return new TransformError(
    'ERR_TRANSFORM_ABORTED',
    `Transform "${command}" was not started: the client went away`,
    { command },
  );
}

/** A transform refused because `maxQueue` transforms wait already. */
export function createQueueFullError(command: string, waiting: number): TransformError {
  return new TransformError(
    'ERR_TRANSFORM_QUEUE_FULL',
    `Transform "${command}" has ${waiting} transforms waiting already (maxQueue)`,
    { command },
  );
}
