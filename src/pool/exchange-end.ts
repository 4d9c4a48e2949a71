// How an exchange (exchange.ts) ends early: its client left or stalled, its answer is read only to be dropped
// (drain.ts), its timeout fired, its process failed (retried once, by exchange-verdicts.ts), or it failed
// outright and its caller is told once. Generic in the exchange, as exchange-host.ts is, so that no import
// cycle joins them: the State union stays exchange.ts's, read here through `EndingView.stage` and changed only
// through its `to…` calls.
import { TransformError, type TransformErrorCode } from '../shared/errors.ts';
import type { ExitReason } from '../shared/events.ts';
import type { SilenceTimer } from '../shared/timeout.ts';
import type { TransformTrace } from '../shared/tracing.ts';
import type { AnswerChannel } from './answer-channel.ts';
import { ABANDONED_DRAIN, Drain, type DrainBound, getFailedAnswerDrain } from './drain.ts';
import { EXCHANGE_FAULTS } from './errors.ts';
import type { ExchangeHost, ExchangeOwner } from './exchange-host.ts';
import { judgeFailure, type Output } from './exchange-verdicts.ts';
import type { MessageSource } from './message-source.ts';

/** The exchange's state as an ending reads it: a channel only while streaming, a drain only while discarding. */
interface EndingStage<E> {
  readonly kind: 'queued' | 'running' | 'streaming' | 'discarding' | 'done' | 'failed';
  readonly host?: ExchangeHost<E>;
  readonly channel?: AnswerChannel;
  readonly drain?: Drain;
}

/** The parts of an exchange its ending acts on, given by the exchange itself. */
export interface EndingView<E> {
  readonly exchange: E;
  readonly owner: ExchangeOwner<E>;
  /** Reject the caller's promise; false when told already (caller.ts). */
  reject(error: unknown): boolean;
  readonly timer: SilenceTimer;
  readonly message: MessageSource;
  readonly trace: TransformTrace | undefined;
  stage(): EndingStage<E>;
  output(): Output;
  attempts(): number;
  /** The caller was told already (caller.ts). */
  settled(): boolean;
  /** Its answer is the next its process owes. */
  turn(): boolean;
  toDiscarding(host: ExchangeHost<E>, drain: Drain): void;
  /** Hand out what came, and end as done. */
  finish(): void;
  toQueued(): void;
  toFailed(): void;
  resumeOutput(): void;
}

/** The client left: stop streaming; drain the process (bounded) and keep it, or kill it. */
export function abortExchange<E>(x: EndingView<E>): void {
  leaveExchange(x, createExchangeError(x, 'ERR_TRANSFORM_ABORTED', EXCHANGE_FAULTS.clientLeft));
}

/**
 * Its client read nothing for `clientTimeout` while the output waited on it: the response ends as if the
 * client had left (aborted, not failed), so the process serves others after a bounded drain or a kill.
 */
export function stallExchange<E>(x: EndingView<E>): void {
  if (x.stage().kind !== 'streaming') return;
  const what = EXCHANGE_FAULTS.clientStalled(x.owner.clientTimeout);
  leaveExchange(x, createExchangeError(x, 'ERR_TRANSFORM_ABORTED', what));
}

function leaveExchange<E>(x: EndingView<E>, error: TransformError): void {
  const { kind, host } = x.stage();
  if (kind === 'queued') {
    failExchange(x, error);
    x.owner.dequeue(x.exchange);
    return;
  }
  if ((kind !== 'running' && kind !== 'streaming') || host === undefined) return;
  // Keep the process in step: finish writing the message and drop what is left of the answer. Past
  // DRAIN_MAX_BYTES of output or DRAIN_MAX_MS, the process is killed instead.
  discardAnswer(x, host, error, ABANDONED_DRAIN);
  x.resumeOutput();
}

/** -> discarding: tell the caller, and read the rest of the answer only to drop it. */
export function discardAnswer<E>(
  x: EndingView<E>,
  host: ExchangeHost<E>,
  error: unknown,
  bound: DrainBound,
): void {
  reportFailure(x, error);
  x.stage().channel?.stop();
  const drain = new Drain(bound, (reason) => giveUp(x, host, reason));
  x.toDiscarding(host, drain);
  if (x.turn()) drain.start();
}

/**
 * running | streaming -> discarding: its answer is over `maxBodyBytes` on a process that frames by
 * construction, so it alone fails and the rest is dropped, bounded as a `Transform-Error`'s body. False (the
 * answer breaks the protocol) without `timeout`, and when it moved on already, but for one discarding.
 */
export function dropOverLimit<E>(x: EndingView<E>, detail: string): boolean {
  // Without `timeout`, nothing but the limit bounds an answer: past it, the process is replaced as any.
  if (x.owner.timeout === Number.POSITIVE_INFINITY) return false;
  const { kind, host } = x.stage();
  if ((kind !== 'running' && kind !== 'streaming') || host === undefined) return kind === 'discarding';
  const error = host.createError('ERR_TRANSFORM_PROTOCOL', EXCHANGE_FAULTS.overBodyLimit(detail));
  discardAnswer(x, host, error, getFailedAnswerDrain(x.owner.timeout));
  return true;
}

/** Its timeout fired: -> failed, and its process is replaced. */
export function timeOutExchange<E>(x: EndingView<E>): void {
  const { kind, host } = x.stage();
  if (kind !== 'running' && kind !== 'streaming' && kind !== 'discarding') return;
  if (host === undefined) return;
  const { timeout, startTimeout } = x.owner;
  const what = EXCHANGE_FAULTS.timedOut(x.output(), { answered: host.answered, timeout, startTimeout });
  giveUp(x, host, 'timeout', createExchangeError(x, 'ERR_TRANSFORM_TIMEOUT', what));
}

/**
 * Its process failed or exited in the middle of it. `unanswered`: the process is gone for a reason that is
 * not this message's (it was dead before it read it, stopped by itself without a word, or wrote a stale
 * answer to the message before), so it is retried once elsewhere, as long as no answer head came back
 * and what was read of the handler's body can be sent again.
 */
export function endOnProcessFailure<E>(x: EndingView<E>, error: TransformError, unanswered: boolean): void {
  const { kind, channel } = x.stage();
  if (kind === 'done' || kind === 'failed' || kind === 'queued') return;
  const verdict = judgeFailure({
    stage: kind,
    handedOut: kind !== 'running' && x.settled(),
    output: x.output(),
    unanswered,
    attempts: x.attempts(),
    replayable: x.message.replayable,
  });
  if (verdict === 'stands') {
    x.finish();
    return;
  }
  if (verdict === 'retry') {
    channel?.stop();
    x.timer.stop();
    x.toQueued();
    x.owner.requeue(x.exchange);
    return;
  }
  failExchange(x, error);
}

/** -> failed, and the process is replaced: its state can no longer be trusted. */
function giveUp<E>(x: EndingView<E>, host: ExchangeHost<E>, reason: ExitReason, error?: unknown): void {
  if (error !== undefined) failExchange(x, error);
  else enterFailed(x);
  host.abandon(x.exchange, reason);
}

/** -> failed: tell the caller (unless told already) and stop reading the handler's body. */
export function failExchange<E>(x: EndingView<E>, error: unknown): void {
  const { kind } = x.stage();
  if (kind === 'done' || kind === 'failed') return;
  if (kind !== 'discarding') reportFailure(x, error);
  enterFailed(x);
}

function enterFailed<E>(x: EndingView<E>): void {
  const stage = x.stage();
  stage.drain?.end();
  stage.channel?.stop();
  x.timer.stop();
  // A body never read (refused, aborted or timed out while queued) stays the caller's, still sendable:
  // onError 'passthrough' returns it, and a caller who does not send it cancels it.
  x.message.cancel();
  x.toFailed();
}

/** Tell the caller of a failure once: reject the transform, or error its body if it was handed out. */
function reportFailure<E>(x: EndingView<E>, error: unknown): void {
  const stage = x.stage();
  x.owner.failed(error);
  x.trace?.end(error);
  if (!x.reject(error)) stage.channel?.fail(error);
}

/** An error about the exchange's process when it has one (its pid, command and stderr tail). */
function createExchangeError<E>(x: EndingView<E>, code: TransformErrorCode, message: string): TransformError {
  return x.stage().host?.createError(code, message) ?? new TransformError(code, `Transform ${message}`);
}
