import { TransformError, type TransformErrorCode } from '../errors.ts';
import { weakenValidators } from '../validators.ts';
import { BodyChannel, createResponse, hasBody } from '../wire/body.ts';
import type { ResponseHead } from '../wire/parser.ts';
import { encodeResponse } from '../wire/serialize.ts';
import { SilenceTimer } from './timeout.ts';

/** The process side of an exchange: what one transform needs from the process it runs on. */
export interface ExchangeHost {
  /** Write a batch; `onWritten` hears how the write ended. False: wait for `drained()`. */
  write(batch: readonly Uint8Array[], onWritten?: (error?: Error | null) => void): boolean;
  drained(): Promise<void>;
  pauseOutput(): void;
  resumeOutput(): void;
  /** The exchange is over and left the process clean (all input written, all output read). */
  release(exchange: Exchange, closeAfter: boolean): void;
  /** The exchange is over and the process cannot be trusted with another: kill and replace it. */
  discard(exchange: Exchange, reason: TransformError): void;
  /** An error about this process, with its pid, command and stderr tail. */
  createError(code: TransformErrorCode, message: string, cause?: unknown): TransformError;
}

/** How an exchange reports to the pool's statistics: each transform ends exactly once, ok or failed. */
export interface ExchangeRecorder {
  /** The transformed head was handed out, this long after the call. */
  delivered(latencyMs: number): void;
  succeeded(): void;
  failed(error: unknown): void;
}

export interface ExchangeInit {
  id: number;
  response: Response;
  signal: AbortSignal | undefined;
  fields: [string, string][];
  timeout: number;
  preserveValidators: boolean;
  recorder: ExchangeRecorder;
  /** Called when the signal aborts while the exchange waits in the queue. */
  onAbortQueued(exchange: Exchange): void;
}

/** Output a process may still write after a client left, read and dropped to keep the process. */
const DRAIN_MAX_BYTES = 1024 * 1024;
const DRAIN_MAX_MS = 1000;
/**
 * A live process's empty pipe takes this much without blocking (Linux's default pipe capacity), so a
 * first write this small that fails means the process was gone before the message, not killed by it.
 */
const PIPE_CAPACITY = 64 * 1024;

function byteLength(batch: readonly Uint8Array[]): number {
  let size = 0;
  for (const view of batch) size += view.byteLength;
  return size;
}

/**
 * One transform: writes the serialised response to a process and reads its answer at the same time, so
 * no body size deadlocks; applies the timeout; turns the answer into a Response whose body streams with
 * backpressure; and decides, on each failure, whether the process is drained and kept or killed.
 */
export class Exchange {
  readonly id: number;
  readonly result: Promise<Response>;
  readonly #init: ExchangeInit;
  readonly #createdAt = performance.now();
  #resolve!: (response: Response) => void;
  #reject!: (error: unknown) => void;
  #settled = false;
  #failed = false;
  /** Released, discarded or gone: no process is working on it. */
  #finished = false;
  /** The process took the release after its last read: nothing more can go wrong. */
  #confirmed = false;
  #host: ExchangeHost | undefined;
  #attempts = 0;
  #batches: AsyncGenerator<Uint8Array[], void, undefined> | undefined;
  /** The batch being read from the handler, shared so a retry takes it over instead of losing it. */
  #nextBatch: Promise<IteratorResult<Uint8Array[], void>> | undefined;
  /** The first batch, kept while it is all that was read of the handler's body, for a retry. */
  #firstBatch: Uint8Array[] | undefined;
  #batchesTaken = 0;
  #inputDone = false;
  /** The first write of this attempt failed while it fit in a pipe: the process was dead already. */
  #foundDead = false;
  #outputStarted = false;
  #outputDone = false;
  #head: ResponseHead | undefined;
  #body: BodyChannel | undefined;
  #pending: Response | undefined;
  #draining: { bytes: number; timer: ReturnType<typeof setTimeout> } | undefined;
  #discarding = false;
  readonly #timer: SilenceTimer;
  readonly #onAbort = (): void => this.#abort();

  constructor(init: ExchangeInit) {
    this.id = init.id;
    this.#init = init;
    this.result = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#timer = new SilenceTimer(init.timeout, () => this.#onTimeout());
    init.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The handler's response, rebuilt if its body was read whole, or untouched; undefined once streamed. */
  get original(): Response | undefined {
    const response = this.#init.response;
    if (this.#batches === undefined) return response;
    if (this.#firstBatch === undefined || !this.#inputDone || this.#batchesTaken > 1) return undefined;
    // The whole message was in one batch: the head, then the body's own chunks.
    const chunks = this.#firstBatch.slice(1) as Uint8Array<ArrayBuffer>[];
    const body = chunks.length === 0 ? null : new Blob(chunks);
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  }

  /** Whether the transform is over (answered, failed, or aborted while queued). */
  get settled(): boolean {
    return this.#settled;
  }

  /** Run on a process. A retry runs again on another one. */
  start(host: ExchangeHost): void {
    this.#attempts++;
    this.#host = host;
    this.#finished = false;
    this.#inputDone = false;
    this.#foundDead = false;
    this.#timer.start();
    void this.#writeInput(host);
  }

  /**
   * The process ended while this exchange was on it. Returns true when the exchange should be retried
   * elsewhere: the process was found dead (the first write of this message failed), nothing came back,
   * this is the first attempt, and what was read of the handler's body can be sent again.
   */
  onProcessGone(reason: TransformError, mayRetry: boolean): boolean {
    this.#host = undefined;
    if (this.#confirmed) return false;
    this.#finished = true;
    const retry =
      mayRetry &&
      this.#foundDead &&
      !this.#outputStarted &&
      this.#attempts === 1 &&
      this.#batchesTaken <= 1 &&
      !this.#settled;
    if (retry) {
      this.#timer.stop();
      return true;
    }
    this.#fail(reason);
    return false;
  }

  /** The process began a message. A second one for the same input breaks the protocol. */
  onMessageBegin(): void {
    if (this.#outputDone) {
      throw this.#error('ERR_TRANSFORM_PROTOCOL', 'wrote a second response for one message');
    }
    this.#outputStarted = true;
    this.#timer.touch();
  }

  onHead(head: ResponseHead): void {
    this.#timer.touch();
    this.#head = head;
    const reason = head.headers.get('transform-error');
    if (reason !== null) {
      // "I could not transform this one": fail it, keep reading so the process stays in step, keep the process.
      this.#discarding = true;
      this.#settle(
        undefined,
        this.#error('ERR_TRANSFORM_FAILED', `could not transform the response: ${reason}`),
      );
      return;
    }
    if (this.#settled) {
      this.#discarding = true;
      return;
    }
    if (!this.#init.preserveValidators) weakenValidators(head.headers);
    this.#body = hasBody(head)
      ? new BodyChannel({ resume: () => this.#resumeOutput(), cancel: () => this.#abort() })
      : undefined;
    this.#pending = createResponse(head, this.#body?.stream ?? null);
  }

  /** A body chunk; returns false when the reader has no room, and the host pauses the process's output. */
  onBody(chunk: Uint8Array): boolean {
    this.#timer.touch();
    if (this.#draining !== undefined) {
      this.#draining.bytes += chunk.byteLength;
      if (this.#draining.bytes > DRAIN_MAX_BYTES) this.#kill(this.#abortError());
      return true;
    }
    if (this.#discarding || this.#body === undefined) return true;
    if (this.#body.push(chunk)) return true;
    this.#timer.pause('reader');
    return false;
  }

  onMessageEnd(): void {
    this.#outputDone = true;
    this.#timer.stop();
    this.#finishIfDone();
    // A transform that answered before reading all its input still has to take the rest.
    if (!this.#finished) this.#timer.start();
  }

  /**
   * After each read from the process parsed cleanly: hand out a head, and end a body, that came with no
   * error in the same bytes (bytes left over after a message fail it instead).
   */
  deliver(): void {
    const response = this.#pending;
    this.#pending = undefined;
    if (response !== undefined) this.#settle(response);
    if (this.#outputDone) this.#body?.close();
  }

  /** The process took the release: nothing more can go wrong with this transform. */
  confirm(): void {
    this.#confirmed = true;
    if (!this.#failed) this.#init.recorder.succeeded();
  }

  /** The pool refused or stopped this transform before it ran. */
  reject(error: TransformError): void {
    this.#fail(error);
  }

  async #writeInput(host: ExchangeHost): Promise<void> {
    let firstWrite = true;
    const write = async (batch: Uint8Array[]): Promise<void> => {
      const small = firstWrite && byteLength(batch) <= PIPE_CAPACITY;
      firstWrite = false;
      const ok = host.write(batch, (error) => {
        if (error && small && !this.#outputStarted) this.#foundDead = true;
      });
      if (!ok) await host.drained();
    };
    try {
      if (this.#firstBatch !== undefined) await write(this.#firstBatch);
      this.#batches ??= encodeResponse(this.#init.response, { fields: this.#init.fields });
      for (;;) {
        let next: IteratorResult<Uint8Array[], void>;
        this.#timer.pause('handler');
        try {
          this.#nextBatch ??= this.#batches.next();
          next = await this.#nextBatch;
        } catch (error) {
          // The handler's body failed: the message is cut short, and the process waits for the rest of it.
          this.#kill(error);
          return;
        } finally {
          this.#timer.resume('handler');
        }
        // Moved to another process meanwhile: that attempt's loop takes this batch.
        if (this.#host !== host) return;
        this.#nextBatch = undefined;
        if (next.done) break;
        this.#batchesTaken++;
        this.#firstBatch = this.#batchesTaken === 1 ? next.value : undefined;
        await write(next.value);
      }
      if (this.#host !== host) return;
      this.#inputDone = true;
      this.#finishIfDone();
    } catch {
      // stdin failed: the process is gone or going; its exit decides between a retry and a failure.
    }
  }

  #finishIfDone(): void {
    if (!this.#inputDone || !this.#outputDone || this.#finished || this.#host === undefined) return;
    this.#finished = true;
    this.#timer.stop();
    this.#stopDraining();
    const host = this.#host;
    this.#host = undefined;
    host.release(this, this.#head?.close === true);
  }

  /** Resolve with `response`, or reject with `error` when there is none. */
  #settle(response: Response | undefined, error?: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#init.signal?.removeEventListener('abort', this.#onAbort);
    if (response !== undefined) {
      this.#init.recorder.delivered(performance.now() - this.#createdAt);
      this.#resolve(response);
    } else {
      this.#recordFailure(error);
      this.#reject(error);
    }
  }

  #recordFailure(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#init.recorder.failed(error);
  }

  /** Fail the transform: reject it, or error its body if it was already handed out; stop reading input. */
  #fail(error: unknown): void {
    this.#stopDraining();
    this.#batches?.return(undefined).catch(() => {});
    this.#reportFailure(error);
  }

  /** Tell the caller: reject the transform, or error its body if it was already handed out. */
  #reportFailure(error: unknown): void {
    this.#timer.stop();
    this.#pending = undefined;
    if (!this.#settled) {
      this.#settle(undefined, error);
      return;
    }
    this.#recordFailure(error);
    this.#body?.error(error);
  }

  /** Fail and give up on the process: its framing or state can no longer be trusted. */
  #kill(error: unknown): void {
    this.#fail(error);
    const host = this.#host;
    if (host === undefined || this.#finished) return;
    this.#finished = true;
    this.#host = undefined;
    host.discard(
      this,
      error instanceof TransformError ? error : this.#error('ERR_TRANSFORM_EXIT', 'was stopped', error),
    );
  }

  #onTimeout(): void {
    const what = this.#outputDone
      ? 'did not read the rest of its input'
      : this.#outputStarted
        ? 'fell silent in the middle of its response'
        : 'did not answer';
    this.#kill(this.#error('ERR_TRANSFORM_TIMEOUT', `${what} within ${this.#init.timeout} ms`));
  }

  #abortError(): TransformError {
    return this.#error('ERR_TRANSFORM_ABORTED', 'was abandoned: the client went away');
  }

  /** The client left: stop streaming; drain the process (bounded) and keep it, or kill it. */
  #abort(): void {
    if (this.#host === undefined) {
      // Still queued: leave the queue; nothing was read from the handler's body.
      if (!this.#settled && !this.#finished) {
        this.#fail(this.#abortError());
        this.#init.onAbortQueued(this);
      }
      return;
    }
    if (this.#finished || this.#draining !== undefined) return;
    const error = this.#abortError();
    // Stop streaming to the client but keep the process in step: finish writing the message and drop what
    // is left of the answer. Past DRAIN_MAX_BYTES of output or DRAIN_MAX_MS, the process is killed instead.
    this.#discarding = true;
    this.#reportFailure(error);
    this.#draining = { bytes: 0, timer: setTimeout(() => this.#kill(error), DRAIN_MAX_MS) };
    this.#resumeOutput();
  }

  #stopDraining(): void {
    if (this.#draining !== undefined) clearTimeout(this.#draining.timer);
  }

  #resumeOutput(): void {
    this.#timer.resume('reader');
    this.#host?.resumeOutput();
  }

  #error(code: TransformErrorCode, message: string, cause?: unknown): TransformError {
    return (
      this.#host?.createError(code, message, cause) ??
      new TransformError(code, `Transform ${message}`, { cause })
    );
  }
}
