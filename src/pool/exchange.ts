// One transform seen from both ends (the caller's promise, fed by the process's output) as one `State`
// union. Its parts: the caller's promise (caller.ts), the answer's body toward a slow client
// (answer-channel.ts), the drop of an unwanted answer (drain.ts), how it ends early (exchange-end.ts), the
// pure timeout and retry verdicts (exchange-verdicts.ts), the message it writes (message-source.ts, read in
// batches by exchange-write.ts); what it may ask of its process and its pool (exchange-host.ts); the codec
// is wire/. The ending and the writing act on it through the view it builds (`#end`), its State kept here.
import type { TransformError } from '../shared/errors.ts';
import { SilenceTimer } from '../shared/timeout.ts';
import type { TransformTrace } from '../shared/tracing.ts';
import { weakenValidators } from '../shared/weaken-validators.ts';
import type { ResponseHead } from '../wire/parser.ts';
import { AnswerChannel } from './answer-channel.ts';
import { Caller } from './caller.ts';
import { type Drain, getFailedAnswerDrain } from './drain.ts';
import { EXCHANGE_FAULTS } from './errors.ts';
import {
  abortExchange,
  discardAnswer,
  dropOverLimit,
  type EndingView,
  endOnProcessFailure,
  failExchange,
  stallExchange,
  timeOutExchange,
} from './exchange-end.ts';
import type { ExchangeInit, ExchangeHost as Host, ExchangeOwner as Owner } from './exchange-host.ts';
import { computeTurnBudget, type Output } from './exchange-verdicts.ts';
import { readNextBatch } from './exchange-write.ts';
import { MessageSource } from './message-source.ts';

/** The process an exchange runs on, as this exchange sees it. */
export type ExchangeHost = Host<Exchange>;
/** The pool an exchange belongs to, as this exchange sees it. */
export type ExchangeOwner = Owner<Exchange>;

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
  /** The head is parsed: it is handed out at the end of the read that brought it, its body follows. */
  | { kind: 'streaming'; host: ExchangeHost; channel: AnswerChannel }
  | { kind: 'discarding'; host: ExchangeHost; drain: Drain }
  | { kind: 'done' }
  | { kind: 'failed' };

/**
 * One transform: the message to write (with the first batch kept for a retry), the timeout, and the answer
 * turned into a Response whose body streams with backpressure. The process tells it what happened (events
 * flow one way); on each failure it decides whether the process is drained and kept or killed.
 */
export class Exchange {
  readonly id: string;
  readonly #owner: ExchangeOwner;
  readonly #caller: Caller;
  readonly #timer: SilenceTimer;
  readonly #message: MessageSource;
  readonly #trace: TransformTrace | undefined;
  /** Its parts as its ending (exchange-end.ts) acts on them. */
  readonly #end: EndingView<Exchange>;
  #state: State = { kind: 'queued' };
  #output: Output = 'none';
  #attempts = 0;
  /** Its answer is the next its process owes: its clocks run (one written behind others waits its turn). */
  #turn = false;

  constructor(init: ExchangeInit, owner: ExchangeOwner) {
    this.id = init.id;
    this.#owner = owner;
    this.#message = new MessageSource(init.response, init.fields);
    this.#trace = init.trace;
    this.#timer = new SilenceTimer(owner.timeout, () => timeOutExchange(this.#end));
    this.#end = {
      exchange: this,
      owner,
      reject: (error) => this.#caller.reject(error),
      timer: this.#timer,
      message: this.#message,
      trace: init.trace,
      stage: () => this.#state,
      output: () => this.#output,
      attempts: () => this.#attempts,
      settled: () => this.#caller.settled,
      turn: () => this.#turn,
      toDiscarding: (host, drain) => {
        this.#state = { kind: 'discarding', host, drain };
      },
      finish: () => {
        this.deliver();
        this.onDone();
      },
      toQueued: () => {
        this.#state = { kind: 'queued' };
      },
      toFailed: () => {
        this.#state = { kind: 'failed' };
      },
      resumeOutput: () => this.#resumeOutput(),
    };
    // Last: the abort listener goes on the signal only once the exchange it calls is whole.
    this.#caller = new Caller(init.signal, () => this.abort(), owner);
  }

  /** The transformed response, or the failure. */
  get result(): Promise<Response> {
    return this.#caller.result;
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
      state.drain.start();
      return;
    }
    const { timeout, startTimeout } = this.#owner;
    const { answered, startedAt } = host;
    this.#timer.start(computeTurnBudget({ answered, startedAt, now: Date.now(), timeout, startTimeout }));
  }

  /** The next batch of the message for `host`; undefined when all is written, 'stale' once moved on. */
  nextBatch(host: ExchangeHost): Promise<Uint8Array[] | undefined | 'stale'> {
    return readNextBatch(this.#end, host);
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
      const error = state.host.createError('ERR_TRANSFORM_FAILED', EXCHANGE_FAULTS.couldNotTransform(reason));
      discardAnswer(this.#end, state.host, error, getFailedAnswerDrain(this.#owner.timeout));
      return;
    }
    if (!this.#owner.preserveValidators) weakenValidators(head.headers);
    const { host } = state;
    const { clientBuffer, clientTimeout } = this.#owner;
    const channel = new AnswerChannel(head, {
      clientBuffer,
      clientTimeout,
      hold: () => this.#timer.pause('reader'),
      pauseOutput: () => host.pauseOutput(),
      resume: () => this.#resumeOutput(),
      cancel: () => this.abort(),
      stall: () => stallExchange(this.#end),
    });
    this.#state = { kind: 'streaming', host, channel };
  }

  /** Its answer is over `maxBodyBytes` on a process framed by construction: see {@link dropOverLimit}. */
  onOverLimit(detail: string): boolean {
    return dropOverLimit(this.#end, detail);
  }

  /** A body chunk; returns false when the reader has no room, and the process pauses its output. */
  onBody(chunk: Uint8Array): boolean {
    this.#timer.touch();
    this.#trace?.read(chunk.byteLength);
    const state = this.#state;
    if (state.kind === 'discarding') state.drain.count(chunk.byteLength);
    return state.kind === 'streaming' ? state.channel.push(chunk) : true;
  }

  /** The answer is complete; a transform that answered before reading all its input still has to take it. */
  onAnswered(): void {
    this.#output = 'answered';
    if (this.#state.kind === 'streaming') this.#state.channel.release();
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
    const answered = this.#output === 'answered';
    const response = state.channel.open(answered);
    if (response !== undefined) this.#caller.answer(response);
    if (answered) state.channel.close();
  }

  /** streaming | discarding -> done: the process finished cleanly and is free again. */
  onDone(): void {
    const state = this.#state;
    this.#timer.stop();
    if (state.kind === 'discarding') state.drain.end();
    if (state.kind === 'streaming') {
      state.channel.stop();
      this.#owner.succeeded();
      this.#trace?.end();
    }
    if (state.kind === 'streaming' || state.kind === 'discarding') this.#state = { kind: 'done' };
  }

  /** Its process failed or exited in the middle of it: retried once, or failed ({@link endOnProcessFailure}). */
  onFailed(error: TransformError, unanswered: boolean): void {
    endOnProcessFailure(this.#end, error, unanswered);
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
    failExchange(this.#end, error);
  }

  /** The client left: stop streaming; drain the process (bounded) and keep it, or kill it. */
  abort(): void {
    abortExchange(this.#end);
  }

  #resumeOutput(): void {
    this.#timer.resume('reader');
    this.#hostOf()?.resumeOutput();
  }

  #hostOf(): ExchangeHost | undefined {
    const state = this.#state;
    return 'host' in state ? state.host : undefined;
  }
}
