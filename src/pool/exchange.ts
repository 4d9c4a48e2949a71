// Over 300 lines still: one transform seen from both ends (the caller's promise and body stream, fed by
// the process's output) is one `State` union, and the timeout, abort, drain and retry decisions all change
// it; the answer body channel toward a slow client is the next part to move out. The message it writes is
// message-source.ts; the codec is wire/.
import { TransformError, type TransformErrorCode } from '../shared/errors.ts';
import type { ExitReason } from '../shared/events.ts';
import { StallTimer } from '../shared/slow-client.ts';
import { SilenceTimer } from '../shared/timeout.ts';
import type { TransformTrace } from '../shared/tracing.ts';
import { weakenValidators } from '../shared/weaken-validators.ts';
import { BodyChannel, createResponse, hasBody } from '../wire/body.ts';
import type { ResponseHead } from '../wire/parser.ts';
import { concatBytes } from '../wire/serialize.ts';
import { MessageSource } from './message-source.ts';

/** What an exchange may ask of the process it runs on: the only calls from exchange to process. */
export interface ExchangeHost {
  /** Its pid, for the transform's span; undefined for a command that could not be started. */
  readonly pid: number | undefined;
  /** `Date.now()` at spawn, and whether it has answered yet: the first answer has `startTimeout`. */
  readonly startedAt: number;
  readonly answered: boolean;
  /** Whether it still takes this exchange's input: false once it is stopping (a failed write kills it). */
  takes(exchange: Exchange): boolean;
  /** The reader has no room: hold the output. */
  pauseOutput(): void;
  /** The reader has room again: let the output flow. */
  resumeOutput(): void;
  /**
   * Give up on the process for this exchange, which has failed already: it is replaced (after the answers
   * ahead of this exchange's, when it is written behind others).
   */
  abandon(exchange: Exchange, reason: ExitReason): void;
  /** An error about this process, with its pid, command and stderr tail. */
  createError(code: TransformErrorCode, message: string, cause?: unknown): TransformError;
}

/**
 * The pool an exchange belongs to: its settings, its statistics (each transform ends exactly once, ok or
 * failed) and its queue. One per pool, shared by its exchanges.
 */
export interface ExchangeOwner {
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
  dequeue(exchange: Exchange): void;
  /** Run again on another process: its process was found dead before it read this message. */
  requeue(exchange: Exchange): void;
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

/** Output a process may still write after a client left, read and dropped to keep the process. */
const DRAIN_MAX_BYTES = 1024 * 1024;
const DRAIN_MAX_MS = 1000;

/**
 * The lifecycle of one transform. Transitions, each in one method:
 * queued -> running (begin) -> streaming (onHead) -> done (onDone);
 * running | streaming -> discarding (Transform-Error, or the client left or read nothing past `clientTimeout`:
 * the answer is read and dropped, so the process stays in step) -> done;
 * running -> queued (onFailed, its process gone for a reason not this message's: retried once);
 * any but done -> failed (a failure that ends the process's part too).
 */
type State =
  | { kind: 'queued' }
  /** On a process, no answer head yet. */
  | { kind: 'running'; host: ExchangeHost }
  /**
   * The head is parsed; it waits, with the body bytes that came after it (`early`), for the end of the read
   * that brought it, then is handed out. `head` is undefined once it is.
   */
  | {
      kind: 'streaming';
      host: ExchangeHost;
      head: ResponseHead | undefined;
      early: Uint8Array[];
      body: BodyChannel | undefined;
    }
  | { kind: 'discarding'; host: ExchangeHost; drain: Drain }
  | { kind: 'done' }
  | { kind: 'failed' };

/**
 * How much of an unwanted answer is read and dropped to keep its process: past `maxBytes` (besides the
 * parser's `maxBodyBytes`) or when `timer` fires, the process is killed instead.
 */
interface Drain {
  bytes: number;
  maxBytes: number;
  /** The bound in time, from the exchange's turn, and what a kill past it is for. */
  ms: number;
  reason: ExitReason;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Its output, as far as the transform got: what a timeout message says it failed to do. */
type Output = 'none' | 'started' | 'answered';

/**
 * One transform: the message to write (with the first batch kept for a retry), the timeout, and the answer
 * turned into a Response whose body streams with backpressure. The process tells it what happened (events
 * flow one way); on each failure it decides whether the process is drained and kept or killed.
 */
export class Exchange {
  readonly id: string;
  readonly result: Promise<Response>;
  readonly #owner: ExchangeOwner;
  readonly #signal: AbortSignal | undefined;
  readonly #createdAt = performance.now();
  readonly #timer: SilenceTimer;
  /** Bounds how long its client may hold the process by reading nothing (`clientTimeout`). */
  readonly #stall: StallTimer;
  readonly #message: MessageSource;
  readonly #trace: TransformTrace | undefined;
  #resolve!: (response: Response) => void;
  #reject!: (error: unknown) => void;
  #state: State = { kind: 'queued' };
  #settled = false;
  #output: Output = 'none';
  #attempts = 0;
  /** Its answer is the next its process owes: its clocks run (one written behind others waits its turn). */
  #turn = false;
  readonly #onAbort = (): void => this.abort();

  constructor(init: ExchangeInit, owner: ExchangeOwner) {
    this.id = init.id;
    this.#owner = owner;
    this.#signal = init.signal;
    this.result = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#message = new MessageSource(init.response, init.fields);
    this.#trace = init.trace;
    this.#timer = new SilenceTimer(owner.timeout, () => this.#onTimeout());
    this.#stall = new StallTimer(owner.clientTimeout, () => this.#onStall());
    init.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The handler's response, rebuilt if its body was read whole, or untouched; undefined once streamed. */
  get original(): Response | undefined {
    return this.#message.original;
  }

  /** Waiting again after a process it ran on was found dead or stopped. */
  get retried(): boolean {
    return this.#attempts > 0 && this.#state.kind === 'queued';
  }

  /** The process wrote something for this message. */
  get hasOutput(): boolean {
    return this.#output !== 'none';
  }

  /** queued -> running: a process took it; its clock starts at its turn ({@link onTurn}). */
  begin(host: ExchangeHost): void {
    if (this.#state.kind !== 'queued') return;
    this.#attempts++;
    this.#state = { kind: 'running', host };
    this.#output = 'none';
    this.#turn = false;
    this.#message.restart();
    this.#trace?.begin(host.pid, this.#attempts);
  }

  /**
   * Its answer is the next its process owes (at once on a process that held nothing else, or once the
   * answers ahead of it in the pipeline are in): `timeout` counts from now, and a drain waiting for its turn
   * starts.
   */
  onTurn(): void {
    const state = this.#state;
    if (this.#turn || !('host' in state)) return;
    this.#turn = true;
    const { host } = state;
    if (state.kind === 'discarding') {
      this.#armDrain(state.drain, host);
      return;
    }
    const { timeout, startTimeout } = this.#owner;
    // A process that has not answered yet may still be loading: its first answer is due `startTimeout` after
    // its spawn (never sooner than the shorter of the two, for one that sat idle before its first message).
    const budget = host.answered
      ? timeout
      : Math.max(host.startedAt + startTimeout - Date.now(), Math.min(timeout, startTimeout));
    this.#timer.start(budget);
  }

  /** A drain's bound in time runs from the exchange's turn: a message behind others waits for theirs first. */
  #armDrain(drain: Drain, host: ExchangeHost): void {
    if (drain.ms === Number.POSITIVE_INFINITY || drain.timer !== undefined) return;
    drain.timer = setTimeout(() => this.#giveUp(host, drain.reason), drain.ms);
  }

  /**
   * The next batch of the message for `host`; undefined when it is all written, 'stale' when the exchange
   * moved on (retried elsewhere, failed) while the handler's body was read.
   */
  async nextBatch(host: ExchangeHost): Promise<Uint8Array[] | undefined | 'stale'> {
    const replay = this.#message.takeReplay();
    if (replay !== undefined) return replay;
    this.#timer.pause('handler');
    let next: IteratorResult<Uint8Array[], void>;
    try {
      next = await this.#message.read();
    } catch (error) {
      // The handler's body failed: the message is cut short, and the process would wait for the rest of it.
      if (this.#hostOf() === host) {
        this.#fail(error);
        host.abandon(this, 'abort');
      }
      return 'stale';
    } finally {
      this.#timer.resume('handler');
    }
    // Moved on, or its process is going: the batch stays for a retry to take over, never lost.
    if (this.#hostOf() !== host || !host.takes(this)) return 'stale';
    const batch = this.#message.take(next);
    // Counted once: a retry's replay of this batch is the same message again.
    this.#trace?.wrote(batch);
    return batch;
  }

  /** The process began an answer. */
  onMessageBegin(): void {
    this.#output = 'started';
    this.#timer.touch();
  }

  /** running -> streaming, or -> discarding for a `Transform-Error`. */
  onHead(head: ResponseHead): void {
    const state = this.#state;
    this.#timer.touch();
    if (state.kind !== 'running') return;
    const reason = head.headers.get('transform-error');
    if (reason !== null) {
      // "I could not transform this one": fail it, keep reading so the process stays in step, keep it. The
      // body it sends is bounded as any: `timeout` in total (silence is the timer's), `maxBodyBytes` (the parser's).
      this.#discard(
        state.host,
        state.host.createError('ERR_TRANSFORM_FAILED', `could not transform the response: ${reason}`),
        {
          bytes: 0,
          maxBytes: Number.POSITIVE_INFINITY,
          ms: this.#owner.timeout,
          reason: 'timeout',
          timer: undefined,
        },
      );
      return;
    }
    if (!this.#owner.preserveValidators) weakenValidators(head.headers);
    this.#state = { kind: 'streaming', host: state.host, head, early: [], body: undefined };
  }

  /** A body chunk; returns false when the reader has no room, and the process pauses its output. */
  onBody(chunk: Uint8Array): boolean {
    this.#timer.touch();
    this.#trace?.read(chunk.byteLength);
    const state = this.#state;
    if (state.kind === 'discarding') {
      const drain = state.drain;
      drain.bytes += chunk.byteLength;
      if (drain.bytes > drain.maxBytes) this.#giveUp(state.host, 'abort');
      return true;
    }
    if (state.kind !== 'streaming') return true;
    // Not handed out yet: kept until the end of this read, which bounds them.
    if (state.head !== undefined) state.early.push(chunk);
    else if (state.body !== undefined && !state.body.push(chunk)) {
      this.#waitForReader();
      return false;
    }
    return true;
  }

  /** The answer is complete; a transform that answered before reading all its input still has to take it. */
  onAnswered(): void {
    this.#output = 'answered';
    // The process has its whole answer: it no longer waits on this client, who reads the rest from the buffer.
    this.#stall.disarm();
    this.#timer.touch();
  }

  /** The whole message is written. */
  onWritten(): void {
    if (this.#output === 'answered') this.#timer.stop();
  }

  /**
   * After a read parsed cleanly: hand out a head, and end a body, that came with no error in the same bytes
   * (bytes left over after an answer fail it instead).
   */
  deliver(): void {
    const state = this.#state;
    if (state.kind !== 'streaming') return;
    const head = state.head;
    state.head = undefined;
    if (head !== undefined) this.#settle(this.#createResponse(state, head));
    if (this.#output === 'answered') state.body?.close();
  }

  /**
   * The Response for a head, with the body bytes that came in the same read. An answer that came whole gets
   * them as bytes: no stream to build, and servers such as @hono/node-server write bytes straight to the
   * socket. Any other streams the rest with backpressure.
   */
  #createResponse(
    state: { host: ExchangeHost; early: Uint8Array[]; body: BodyChannel | undefined },
    head: ResponseHead,
  ): Response {
    const early = state.early;
    state.early = [];
    if (!hasBody(head)) return createResponse(head, null);
    if (this.#output === 'answered') return createResponse(head, concatBytes(early));
    const body = new BodyChannel(
      { resume: () => this.#resumeOutput(), cancel: () => this.abort() },
      this.#owner.clientBuffer,
    );
    state.body = body;
    for (const chunk of early) body.push(chunk);
    if (!body.wantsMore) {
      this.#waitForReader();
      state.host.pauseOutput();
    }
    return createResponse(head, body.stream);
  }

  /** streaming | discarding -> done: the process finished cleanly and is free again. */
  onDone(): void {
    const state = this.#state;
    this.#timer.stop();
    this.#stall.disarm();
    if (state.kind === 'discarding') clearTimeout(state.drain.timer);
    if (state.kind === 'streaming') {
      this.#owner.succeeded();
      this.#trace?.end();
    }
    if (state.kind === 'streaming' || state.kind === 'discarding') this.#state = { kind: 'done' };
  }

  /**
   * Its process failed or exited in the middle of it. `unanswered`: the process is gone for a reason that is
   * not this message's (it was dead before it read it, stopped by itself without a word, or wrote a stale
   * answer to the message before), so it is retried once elsewhere, as long as no answer head came back
   * and what was read of the handler's body can be sent again.
   */
  onFailed(error: TransformError, unanswered: boolean): void {
    const state = this.#state;
    if (state.kind === 'done' || state.kind === 'failed' || state.kind === 'queued') return;
    // Its answer came whole and was handed out before a stale one followed it: it stands.
    if (unanswered && state.kind === 'streaming' && this.#settled && this.#output === 'answered') {
      this.deliver();
      this.onDone();
      return;
    }
    // Running, or its head parsed but not handed out (a stale answer came right behind it in the same read).
    const handedOut = state.kind !== 'running' && this.#settled;
    const retry =
      unanswered &&
      (state.kind === 'running' || state.kind === 'streaming') &&
      !handedOut &&
      this.#attempts === 1 &&
      this.#message.replayable;
    if (retry) {
      this.#timer.stop();
      this.#state = { kind: 'queued' };
      this.#owner.requeue(this);
      return;
    }
    this.#fail(error);
  }

  /**
   * Its process cannot have read it (not a byte of it reached the pipe, or the pipe was closed before it):
   * run again elsewhere as if never taken, which is not an attempt; otherwise as {@link onFailed}.
   */
  onNotRead(error: TransformError): void {
    if (this.#state.kind === 'running' && this.#output === 'none') this.giveBack();
    else this.onFailed(error, true);
  }

  /**
   * running -> queued, as if never taken: its process cannot get to it soon (an answer ahead of it waits on
   * another client's reader) and not a byte of it was written. Not an attempt: it may still be retried once.
   */
  giveBack(): void {
    if (this.#state.kind !== 'running' || this.#output !== 'none') return;
    this.#attempts--;
    this.#timer.stop();
    this.#turn = false;
    this.#state = { kind: 'queued' };
    this.#owner.requeue(this);
  }

  /** The pool refused or stopped this transform before it ran. */
  reject(error: TransformError): void {
    this.#fail(error);
  }

  /** The client left: stop streaming; drain the process (bounded) and keep it, or kill it. */
  abort(): void {
    this.#leave(this.#error('ERR_TRANSFORM_ABORTED', 'was abandoned: the client went away'));
  }

  /**
   * Its client read nothing for `clientTimeout` while the output waited on it: the response ends as if the
   * client had left (aborted, not failed), so the process serves others after a bounded drain or a kill.
   */
  #onStall(): void {
    if (this.#state.kind !== 'streaming') return;
    const ms = this.#owner.clientTimeout;
    this.#leave(
      this.#error(
        'ERR_TRANSFORM_ABORTED',
        `was abandoned: its client read nothing for ${ms} ms (clientTimeout) while the process waited on it`,
      ),
    );
  }

  /** The reader is full: the output waits on it, `timeout` does not count, `clientTimeout` does. */
  #waitForReader(): void {
    this.#timer.pause('reader');
    this.#stall.arm();
  }

  #leave(error: TransformError): void {
    const state = this.#state;
    if (state.kind === 'queued') {
      this.#fail(error);
      this.#owner.dequeue(this);
      return;
    }
    if (state.kind !== 'running' && state.kind !== 'streaming') return;
    // Keep the process in step: finish writing the message and drop what is left of the answer. Past
    // DRAIN_MAX_BYTES of output or DRAIN_MAX_MS, the process is killed instead.
    this.#discard(state.host, error, {
      bytes: 0,
      maxBytes: DRAIN_MAX_BYTES,
      ms: DRAIN_MAX_MS,
      reason: 'abort',
      timer: undefined,
    });
    this.#resumeOutput();
  }

  /** -> discarding: tell the caller, and read the rest of the answer only to drop it. */
  #discard(host: ExchangeHost, error: unknown, drain: Drain): void {
    this.#stall.disarm();
    this.#report(error);
    this.#state = { kind: 'discarding', host, drain };
    if (this.#turn) this.#armDrain(drain, host);
  }

  /** -> failed, and the process is replaced: its state can no longer be trusted. */
  #giveUp(host: ExchangeHost, reason: ExitReason, error?: unknown): void {
    if (error !== undefined) this.#fail(error);
    else this.#toFailed();
    host.abandon(this, reason);
  }

  /** -> failed: tell the caller (unless told already) and stop reading the handler's body. */
  #fail(error: unknown): void {
    const state = this.#state;
    if (state.kind === 'done' || state.kind === 'failed') return;
    if (state.kind !== 'discarding') this.#report(error);
    this.#toFailed();
  }

  #toFailed(): void {
    const state = this.#state;
    if (state.kind === 'discarding') clearTimeout(state.drain.timer);
    this.#timer.stop();
    this.#stall.disarm();
    // A body never read (refused, aborted or timed out while queued) stays the caller's, still sendable:
    // onError 'passthrough' returns it, and a caller who does not send it cancels it.
    this.#message.cancel();
    this.#state = { kind: 'failed' };
  }

  /** Tell the caller of a failure once: reject the transform, or error its body if it was handed out. */
  #report(error: unknown): void {
    const state = this.#state;
    this.#owner.failed(error);
    this.#trace?.end(error);
    if (!this.#settled) {
      this.#settled = true;
      this.#signal?.removeEventListener('abort', this.#onAbort);
      this.#reject(error);
      return;
    }
    if (state.kind === 'streaming') state.body?.error(error);
  }

  #settle(response: Response): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#owner.delivered(performance.now() - this.#createdAt);
    this.#resolve(response);
  }

  #onTimeout(): void {
    const state = this.#state;
    if (state.kind !== 'running' && state.kind !== 'streaming' && state.kind !== 'discarding') return;
    const { timeout, startTimeout } = this.#owner;
    const what =
      this.#output === 'none' && !state.host.answered
        ? `did not answer its first message within startTimeout (${startTimeout} ms from its start)`
        : `${
            {
              none: 'did not answer',
              started: 'fell silent in the middle of its response',
              answered: 'did not read the rest of its input',
            }[this.#output]
          } within ${timeout} ms`;
    this.#giveUp(state.host, 'timeout', this.#error('ERR_TRANSFORM_TIMEOUT', what));
  }

  #resumeOutput(): void {
    this.#stall.disarm();
    this.#timer.resume('reader');
    this.#hostOf()?.resumeOutput();
  }

  #hostOf(): ExchangeHost | undefined {
    const state = this.#state;
    return 'host' in state ? state.host : undefined;
  }

  #error(code: TransformErrorCode, message: string, cause?: unknown): TransformError {
    return (
      this.#hostOf()?.createError(code, message, cause) ??
      new TransformError(code, `Transform ${message}`, { cause })
    );
  }
}
