/** Stable codes of {@link TransformError}: one per way a transform can fail. */
export type TransformErrorCode =
  | 'ERR_TRANSFORM_SPAWN'
  | 'ERR_TRANSFORM_EXIT'
  | 'ERR_TRANSFORM_PROTOCOL'
  | 'ERR_TRANSFORM_FAILED'
  | 'ERR_TRANSFORM_TIMEOUT'
  | 'ERR_TRANSFORM_QUEUE_FULL'
  | 'ERR_TRANSFORM_CLOSED'
  | 'ERR_TRANSFORM_ABORTED';

/** The HTTP status `onError: 'respond'` answers with; undefined: nothing is sent (the client left). */
const STATUS: Readonly<Record<TransformErrorCode, number | undefined>> = Object.freeze({
  ERR_TRANSFORM_SPAWN: 502,
  ERR_TRANSFORM_EXIT: 502,
  ERR_TRANSFORM_PROTOCOL: 502,
  ERR_TRANSFORM_FAILED: 502,
  ERR_TRANSFORM_TIMEOUT: 504,
  ERR_TRANSFORM_QUEUE_FULL: 503,
  ERR_TRANSFORM_CLOSED: 503,
  ERR_TRANSFORM_ABORTED: undefined,
});

/** What clients read: short and fixed, never the process's stderr or a stack. */
const CLIENT_MESSAGE: Readonly<Record<TransformErrorCode, string>> = Object.freeze({
  ERR_TRANSFORM_SPAWN: 'The response transform could not be started',
  ERR_TRANSFORM_EXIT: 'The response transform exited before its response was complete',
  ERR_TRANSFORM_PROTOCOL: 'The response transform sent a malformed response',
  ERR_TRANSFORM_FAILED: 'The response transform could not transform this response',
  ERR_TRANSFORM_TIMEOUT: 'The response transform timed out',
  ERR_TRANSFORM_QUEUE_FULL: 'Too many responses are waiting for a transform',
  ERR_TRANSFORM_CLOSED: 'The response transform is shutting down',
  ERR_TRANSFORM_ABORTED: 'The client went away',
});

/** Marks a TransformError across copies of this package, whose classes differ (see `POOL_BRAND`). */
const ERROR_BRAND: unique symbol = Symbol.for('subprocess-transform.error');

/** Bytes of a process's stderr kept on its errors. */
export const STDERR_TAIL_BYTES = 4096;

/** Details of a {@link TransformError}. */
export interface TransformErrorDetails {
  cause?: unknown;
  /** The transform command, as given. */
  command?: string;
  pid?: number | undefined;
  exitCode?: number | undefined;
  signal?: string | undefined;
  /** The last few KiB the process wrote to stderr, when it is captured. Never sent to HTTP clients. */
  stderr?: string | undefined;
}

/**
 * A transform failed. `code` is stable; `status` is what `onError: 'respond'` answers with (undefined for
 * `ERR_TRANSFORM_ABORTED`: nothing is sent). Process failures carry `pid`, `exitCode`, `signal` and a
 * bounded `stderr` tail for logs.
 *
 * @example
 * ```ts
 * try { await pool.transform(response); }
 * catch (error) { if (error instanceof TransformError && error.code === 'ERR_TRANSFORM_TIMEOUT') retryLater(); }
 * ```
 */
export class TransformError extends Error {
  override readonly name = 'TransformError';
  readonly code: TransformErrorCode;
  readonly status: number | undefined;
  readonly command: string | undefined;
  readonly pid: number | undefined;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stderr: string | undefined;
  readonly [ERROR_BRAND] = true;

  constructor(code: TransformErrorCode, message: string, details: TransformErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = STATUS[code];
    this.command = details.command;
    this.pid = details.pid;
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.stderr = details.stderr;
  }

  /** A timeout: `ERR_TRANSFORM_TIMEOUT`. */
  get timedOut(): boolean {
    return this.code === 'ERR_TRANSFORM_TIMEOUT';
  }
}

/** Seconds a client is told to wait after a 503. */
const RETRY_AFTER_SECONDS = '1';

/**
 * The response `onError: 'respond'` sends: the code's status, `text/plain`, a fixed short body, and
 * `Retry-After` on 503.
 */
export function createErrorResponse(error: TransformError): Response {
  const status = error.status ?? 502;
  const headers = new Headers({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  if (status === 503) headers.set('retry-after', RETRY_AFTER_SECONDS);
  return new Response(`${CLIENT_MESSAGE[error.code]}\n`, { status, headers });
}

/**
 * Whether `value` is a TransformError from any copy of this package: a pool shared from another copy
 * rejects with that copy's class.
 */
export function isTransformError(value: unknown): value is TransformError {
  return (
    value instanceof Error && (value as Partial<Record<typeof ERROR_BRAND, unknown>>)[ERROR_BRAND] === true
  );
}
