// What an exchange (exchange.ts) may ask of the process it runs on and of the pool it belongs to, and what it
// is made of. Generic in the exchange so that this module names no Exchange: exchange.ts and the processes
// both import it, without an import cycle.
import type { TransformError, TransformErrorCode } from '../shared/errors.ts';
import type { ExitReason } from '../shared/events.ts';
import type { TransformTrace } from '../shared/tracing.ts';

/** What an exchange may ask of the process it runs on: the only calls from exchange to process. */
export interface ExchangeHost<E> {
  /** Its pid, for the transform's span; undefined for a command that could not be started. */
  readonly pid: number | undefined;
  /** `Date.now()` at spawn, and whether it has answered yet: the first answer has `startTimeout`. */
  readonly startedAt: number;
  readonly answered: boolean;
  /** Whether it still takes this exchange's input: false once it is stopping (a failed write kills it). */
  takes(exchange: E): boolean;
  /** The reader has no room: hold the output. */
  pauseOutput(): void;
  /** The reader has room again: let the output flow. */
  resumeOutput(): void;
  /**
   * Give up on the process for this exchange, which has failed already: it is replaced (after the answers
   * ahead of this exchange's, when it is written behind others).
   */
  abandon(exchange: E, reason: ExitReason): void;
  /** An error about this process, with its pid, command and stderr tail. */
  createError(code: TransformErrorCode, message: string, cause?: unknown): TransformError;
}

/**
 * The pool an exchange belongs to: its settings, its statistics (each transform ends exactly once, ok or
 * failed) and its queue. One per pool, shared by its exchanges.
 */
export interface ExchangeOwner<E> {
  readonly timeout: number;
  readonly startTimeout: number;
  /** Bytes of an answer kept for its client before the output pauses (`clientBuffer`). */
  readonly clientBuffer: number;
  /** ms a client may read nothing while the output is paused for it (`clientTimeout`). */
  readonly clientTimeout: number;
  readonly preserveValidators: boolean;
  /** The transformed head was handed out, this long after the call. */
  delivered(latencyMs: number): void;
  succeeded(): void;
  failed(error: unknown): void;
  /** Leave the queue: the signal aborted while it waited. */
  dequeue(exchange: E): void;
  /** Run again on another process: its process was found dead before it read this message. */
  requeue(exchange: E): void;
}

/** One transform's own part. */
export interface ExchangeInit {
  id: string;
  response: Response;
  signal: AbortSignal | undefined;
  fields: [string, string][];
  /** Its span, when tracing is on (shared/tracing.ts). */
  trace?: TransformTrace | undefined;
}
