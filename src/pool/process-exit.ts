// The bookkeeping of a process's end: how it is described to the pool and to `onEvent` listeners, and what
// each message still on board is told, at a stop (by its fate) or at the exit. Which fate each meets is
// fate.ts; this gathers the facts for it and carries it out.
import type { TransformError } from '../shared/errors.ts';
import { type ExitReason, getExpiredTimer, type ProcessEventSink } from '../shared/events.ts';
import type { ResolvedOptions } from '../shared/pool-options.ts';
import type { Answerable } from './answer-reader.ts';
import type { Exchange } from './exchange.ts';
import { decideFates, type Fate, findCulprit } from './fate.ts';
import type { ClosedResult } from './group-process.ts';
import type { InFlight } from './in-flight.ts';

/** How a process ended. */
export interface ProcessExit {
  exitCode: number | undefined;
  signal: string | undefined;
  /** It never ran: the command could not be started. */
  spawnFailed: boolean;
  reason: ExitReason;
  /** It answered at least once (a head arrived). */
  answered: boolean;
  /** It wrote at least one byte to its stdout. */
  wroteOutput: boolean;
  /** The id of the message it had on board when it ended, if any. */
  messageId: string | undefined;
  /** Its end was counted already as a start failure, when it was killed by `startTimeout`. */
  counted: boolean;
  /** Milliseconds it ran. */
  uptime: number;
  /** Why it could not be started, when it could not. */
  cause: unknown;
  /** The last few KiB of its stderr, when captured. */
  stderr: string | undefined;
}

/** What a process knows of itself when it ends, besides how it closed. */
export type ProcessFacts = Omit<ProcessExit, 'exitCode' | 'signal' | 'reason' | 'uptime' | 'cause'> & {
  startedAt: number;
};

/** Describe a process's end for the pool: how it closed, why, and what it had done. */
export function describeExit(result: ClosedResult, reason: ExitReason, facts: ProcessFacts): ProcessExit {
  const { startedAt, ...rest } = facts;
  return {
    exitCode: result.exitCode,
    signal: result.signal,
    reason,
    uptime: Date.now() - startedAt,
    cause: result.cause,
    ...rest,
  };
}

/** Tell `onEvent` listeners how a process that ran ended (the `exit` event), with the timer that expired. */
export function emitExit(
  sink: ProcessEventSink,
  options: ResolvedOptions,
  pid: number,
  exit: ProcessExit,
): void {
  const { exitCode: code, signal, reason } = exit;
  const timer = reason === 'timeout' ? { timer: getExpiredTimer(options, exit) } : {};
  sink.emit({ type: 'exit', pid, command: options.commandText, code, signal, reason, ...timer });
}

/** Who a stop is charged to: `culprit` (or the answer being read), unless `blameless`. */
export interface Blame {
  culprit?: Exchange | undefined;
  /** Nobody on board is at fault (a stale answer, a process dead before it read its message): all retried. */
  blameless?: boolean;
  /** The message a stale answer repeats the answer of: it fails all the same (see decideFates). */
  repeated?: Exchange | undefined;
}

/** A message on board as a stop judges it: `closed` once its answer was handed out whole. */
export interface Judged extends Answerable {
  closed?: boolean;
}

/** What a stop decides: each message's fate, in board order, and the index of the one it is charged to. */
export interface StopPlan<W> {
  works: W[];
  fates: Fate[];
  culprit: number | undefined;
}

/** Decide the fate of each message on `board` at a stop (see fate.ts); `error`: an error is given now. */
export function planStop<W extends Judged>(
  board: InFlight<W>,
  blame: Blame,
  error: boolean,
  unread: (work: W) => boolean,
): StopPlan<W> {
  const works = [...board.entries];
  const boarded = works.map((work, index) => ({
    answered: board.isAnswered(index),
    closed: work.closed === true,
    unread: unread(work),
  }));
  const named =
    blame.culprit === undefined ? undefined : works.findIndex((work) => work.exchange === blame.culprit);
  const culprit = findCulprit(boarded, named);
  const repeated =
    blame.repeated === undefined ? undefined : works.findIndex((work) => work.exchange === blame.repeated);
  const fates = decideFates(boarded, { culprit, error, blameless: blame.blameless === true, repeated });
  return { works, fates, culprit };
}

/**
 * Tell each message on board its fate at a stop, the newest first: retries go back to the head of the
 * queue, in their order, before a replacement can take work. `kept` ones are told at the exit.
 */
export function tellFates<W extends Answerable>(
  works: readonly W[],
  fates: readonly Fate[],
  error: TransformError,
): void {
  for (let index = works.length - 1; index >= 0; index--) {
    const { exchange } = works[index] as W;
    const fate = fates[index];
    if (fate === 'given-back') exchange.onNotRead(error);
    else if (fate === 'failed') exchange.onFailed(error, false);
    else if (fate === 'run-again') exchange.onFailed(error, true);
  }
}

/** What the exit of a process means for the messages it still held. */
export interface ExitVerdict<W> {
  /** The command could not be started. */
  spawnFailed: boolean;
  /** On trial after a watched edit, and it never answered: dying now is the edit's fault. */
  trialBeforeAnswer: boolean;
  /** The error the message being answered fails with. */
  failure(): TransformError;
  /** No transform can have read `work`. */
  unread(work: W): boolean;
  /** `work` waited behind the one being answered: it is run again elsewhere. */
  release(work: W): void;
  /** An answer that came whole is one more transform done (counted before it is handed out). */
  count(): void;
}

/**
 * Tell each message still on board, the newest first, how the exit went for it: an answer that came whole is
 * done; the message being answered fails with what the exit says (or runs again, when it cannot have been
 * read, or the exit is a trial edit's fault); every one behind it is released.
 */
export function settleExit<W extends Answerable>(board: InFlight<W>, verdict: ExitVerdict<W>): void {
  const failing = board.reading;
  const works = [...board.entries];
  for (let index = works.length - 1; index >= 0; index--) {
    const work = works[index] as W;
    if (board.isAnswered(index)) {
      // Its answer came whole before it went (it did not wait for the rest of its input): that one is done.
      // Handed out first: when the read that completed it also stopped the process (a drain past its bound
      // for the message behind), the read was never finished and its answer never delivered.
      verdict.count();
      work.exchange.deliver();
      work.exchange.onDone();
    } else if (work !== failing) {
      verdict.release(work);
    } else {
      const reason = verdict.failure();
      // Retried only if it was dead before it could read the message: one that read it and then exited, even
      // with code 0, may have crashed on it or acted on it. A process on trial after a watched edit that dies
      // before its first answer is the edit's fault, not the message's: that message goes to an old process
      // once.
      if (!verdict.spawnFailed && verdict.unread(work)) {
        work.exchange.onNotRead(reason);
        continue;
      }
      const blameless = verdict.trialBeforeAnswer && !work.exchange.hasOutput;
      work.exchange.onFailed(reason, !verdict.spawnFailed && blameless);
    }
  }
}
