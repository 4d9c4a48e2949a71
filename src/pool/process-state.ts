// The lifecycle of one transform process, pure: its state, and what each event makes of it, as a function
// from (state, event) to (next state, effects: process-effects.ts). The shell (process.ts) hears the events,
// runs this, and carries out the effects in their order; test/pool/process-state.test.ts pins the
// transitions down.
//
//   idle ---run---> busy ---emptied---> deciding ---verdict: keep---> idle
//    |                |                     |
//    | retire, stop   | stop, cut short,    | retire, stop, verdict: retire
//    |                | emptied if retiring |
//    +-----------> stopping <---------------+
//                     |
//                  closed ---> exited          (closed comes from any state)
//
// Beside it, one start phase: silent (not a byte of output) -> spoke (output, no head yet) -> answered (a
// head came: it has started); silent -> failed (killed by `startTimeout`, counted as a start failure).
import type { ExitReason } from '../shared/events.ts';
import { InFlight } from './in-flight.ts';
import type { Effect } from './process-effects.ts';

/**
 * Busy holds one message or, with `pipeline` above 1, several: written back to back, answered in order.
 * `W` is a message on board; this module never looks inside one.
 */
export type Life<W> =
  | { kind: 'idle' }
  | {
      kind: 'busy';
      works: InFlight<W>;
      /** Take no more, and retire once the last is done, and why: `Connection: close`, or the pool asked. */
      retireAfter: ExitReason | undefined;
      /**
       * A message whose handler's body failed while it was written behind others: the process waits for the
       * rest of it, so it is killed once the answers ahead of it are in (they are not that message's victims).
       */
      abandoned: W | undefined;
    }
  /** Deciding, after its last transform, whether the recycle policy retires it. */
  | { kind: 'deciding' }
  /**
   * Takes no more work: stdin ended (retired), or signals sent (`signalled`); waiting for the exit. `works`
   * are the messages it ended in the middle of, told how they ended at the exit.
   */
  | { kind: 'stopping'; reason: ExitReason; signalled: boolean; works: InFlight<W> }
  | { kind: 'exited' };

/** How far start-up has got (see the head comment). */
export type StartPhase = 'silent' | 'spoke' | 'answered' | 'failed';

export interface ProcessState<W> {
  life: Life<W>;
  start: StartPhase;
}

export type LifeEvent<W> =
  /** An idle process takes its first message (`works` holds it). */
  | { type: 'run'; works: InFlight<W> }
  /** A byte of output came. */
  | { type: 'output' }
  /** A head with a good id came for `work`, the message being answered; `close`: `Connection: close`. */
  | { type: 'head'; work: W; close: boolean }
  | { type: 'retire'; reason: ExitReason }
  /** Signals are sent; `works` are the messages kept on board, told at the exit. */
  | { type: 'stop'; reason: ExitReason; works: InFlight<W> }
  /**
   * `work` failed in a way that leaves the process out of step: it is replaced, after the answers ahead of
   * `work` when it is only written behind the answer being read. Undefined: not on board (nothing to do).
   */
  | { type: 'abandon'; work: W | undefined; reason: ExitReason }
  /** Its stdout ended. */
  | { type: 'output-end' }
  /** Its stdout ended inside the answer to `work`; `unread`: no transform can have read that message. */
  | { type: 'cut-short'; work: W; unread: boolean }
  /** Its stdin failed; `foundDead`: the message whose answer comes next cannot have been read. */
  | { type: 'input-error'; foundDead: boolean }
  /** Its leader exited (pipes may be open); `foundDead`: the next answer's message was never written. */
  | { type: 'leader-exit'; foundDead: boolean }
  /** Every message on board is done; `limitReached`: `maxRequestsPerProcess` transforms are done. */
  | { type: 'emptied'; limitReached: boolean }
  /** The recycle policy answered. */
  | { type: 'verdict'; retire: boolean }
  /** It exited and its pipes are closed. */
  | { type: 'closed' };

export interface Transition<W> {
  state: ProcessState<W>;
  effects: Effect<W>[];
}

/** What `state` becomes on `event`, and what the shell must do, in order. */
export function transition<W>(state: ProcessState<W>, event: LifeEvent<W>): Transition<W> {
  const { life, start } = state;
  const to = (next: Life<W>, ...effects: Effect<W>[]): Transition<W> => ({
    state: { life: next, start },
    effects,
  });
  const stay = (): Transition<W> => ({ state, effects: [] });
  switch (event.type) {
    case 'run':
      if (life.kind !== 'idle') return stay();
      return to(
        { kind: 'busy', works: event.works, retireAfter: undefined, abandoned: undefined },
        { type: 'hold-loop', hold: true },
        { type: 'write' },
      );
    case 'output':
      return start === 'silent' ? { state: { life, start: 'spoke' }, effects: [] } : stay();
    case 'head': {
      if (life.kind !== 'busy') return stay();
      const effects: Effect<W>[] = [];
      if (start !== 'answered') effects.push({ type: 'notify-started' });
      // It will send nothing more (RFC 9112 section 9.6): the messages behind it go to another process.
      if (event.close) effects.push({ type: 'release-behind', work: event.work });
      const next = event.close ? { ...life, retireAfter: life.retireAfter ?? 'recycle' } : life;
      return { state: { life: next, start: 'answered' }, effects };
    }
    case 'retire':
      return retire(state, event.reason);
    case 'stop':
      return stop(state, event.reason, event.works);
    case 'abandon': {
      const { work, reason } = event;
      if (work === undefined || (life.kind !== 'busy' && life.kind !== 'stopping')) return stay();
      const { reading } = life.works;
      const behind = reading !== undefined && life.works.indexOf(work) > life.works.indexOf(reading);
      if (life.kind !== 'busy' || !behind) return to(life, { type: 'stop-for', culprit: work, reason });
      // Behind the answer being read: the answers ahead of it come first, then the kill (see `abandoned`).
      return to(
        { ...life, abandoned: work, retireAfter: life.retireAfter ?? reason },
        { type: 'notify-retire' },
        { type: 'release-behind', work },
      );
    }
    case 'output-end':
      // Stopping already: its output is not read any more, and an error found in it was reported once.
      if (life.kind === 'stopping' || life.kind === 'exited') return stay();
      // It closed its stdout while it had nothing to say: it can never answer again.
      if (life.kind !== 'busy') return to(life, { type: 'kill', foundDead: false });
      return to(life, { type: 'read-end' });
    case 'cut-short':
      if (life.kind !== 'busy') return stay();
      // Found dead before that message could be read: every message on board is retried now. Otherwise it
      // may have been read, so it fails at the exit (or a grace later, for one that lingers).
      if (event.unread) return to(life, { type: 'kill', foundDead: true });
      return to(
        { kind: 'stopping', reason: 'crash', signalled: false, works: life.works },
        { type: 'release-behind', work: event.work },
        ...retireUnlessStartFailure<W>(start, 'crash'),
        { type: 'linger', closedStdout: true },
      );
    case 'input-error':
      if (life.kind === 'exited' || life.kind === 'stopping') return stay();
      if (event.foundDead) return to(life, { type: 'kill', foundDead: true });
      if (life.kind !== 'busy') return to(life, { type: 'kill', foundDead: false });
      // Its output may still hold answers written before it went: read on to its end, where the exit or the
      // end of output decides, so an answer in the pipe is never dropped for a write that failed after it.
      return to(
        { ...life, retireAfter: life.retireAfter ?? 'crash' },
        { type: 'release-unwritten' },
        ...retireUnlessStartFailure<W>(start, 'crash'),
        { type: 'linger', closedStdout: false },
      );
    case 'leader-exit':
      return event.foundDead && life.kind === 'busy' ? to(life, { type: 'kill', foundDead: true }) : stay();
    case 'emptied': {
      if (life.kind !== 'busy') return stay();
      // The last chunk may have filled the reader's queue: the next transform must find output flowing.
      const effects: Effect<W>[] = [{ type: 'resume-output' }, { type: 'hold-loop', hold: false }];
      if (life.retireAfter === undefined && !event.limitReached) {
        return to({ kind: 'deciding' }, ...effects, { type: 'ask-recycle' });
      }
      const retired = retire<W>({ life: { kind: 'idle' }, start }, life.retireAfter ?? 'recycle');
      return { state: retired.state, effects: [...effects, ...retired.effects] };
    }
    case 'verdict':
      if (life.kind !== 'deciding') return stay();
      if (event.retire) return retire<W>({ life: { kind: 'idle' }, start }, 'recycle');
      return to({ kind: 'idle' }, { type: 'notify-idle' });
    case 'closed':
      return to({ kind: 'exited' });
  }
}

/** Take no more work; stop once the messages on board are done. */
function retire<W>(state: ProcessState<W>, reason: ExitReason): Transition<W> {
  const { life, start } = state;
  if (life.kind === 'stopping' || life.kind === 'exited') return { state, effects: [] };
  // The pool hears it at once (it may start a replacement); the pool's side of this is idempotent.
  if (life.kind === 'busy') {
    return {
      state: { life: { ...life, retireAfter: life.retireAfter ?? reason }, start },
      effects: [{ type: 'notify-retire' }],
    };
  }
  return {
    state: { life: { kind: 'stopping', reason, signalled: false, works: new InFlight<W>() }, start },
    effects: [{ type: 'notify-retire' }, { type: 'end-input' }],
  };
}

/** Signals are sent once: a process exited or signalled already takes no second stop. */
export function canStop<W>(life: Life<W>): boolean {
  return life.kind !== 'exited' && !(life.kind === 'stopping' && life.signalled);
}

function stop<W>(state: ProcessState<W>, reason: ExitReason, works: InFlight<W>): Transition<W> {
  const { life, start } = state;
  if (!canStop(life)) return { state, effects: [] };
  // Killed by startTimeout without a byte of output: counted now, so the backoff holds its replacement back.
  const startFailed = reason === 'timeout' && start === 'silent';
  const next: Life<W> = {
    kind: 'stopping',
    // A process retired already keeps the reason it was retired for.
    reason: life.kind === 'stopping' ? life.reason : reason,
    signalled: true,
    works,
  };
  return {
    state: { life: next, start: startFailed ? 'failed' : start },
    effects: [
      { type: 'stop-reading' },
      ...(startFailed ? [{ type: 'count-start-failure' } as const] : []),
      // The messages first: retries go back to the head of the queue before a replacement can take work.
      { type: 'tell-fates' },
      ...retireUnlessStartFailure<W>(start, reason),
      { type: 'terminate' },
    ],
  };
}

/**
 * Let the pool start a replacement now, unless this end may be a start failure (a crash without a byte of
 * output): then the exit, counted first, decides whether the replacement waits for the backoff.
 */
function retireUnlessStartFailure<W>(start: StartPhase, reason: ExitReason): Effect<W>[] {
  const silent = start === 'silent' || start === 'failed';
  return reason === 'crash' && silent ? [] : [{ type: 'notify-retire' }];
}

/** What the exit facts say of a start phase. */
export function describeStart(start: StartPhase): {
  answered: boolean;
  wroteOutput: boolean;
  counted: boolean;
} {
  return {
    answered: start === 'answered',
    wroteOutput: start === 'spoke' || start === 'answered',
    counted: start === 'failed',
  };
}

/** What decides whether a busy process may take another message behind the ones it holds. */
export interface JoinFacts {
  onTrial: boolean;
  /** Its output waits on a client's reader: a message behind it would wait on that client too. */
  outputPaused: boolean;
  depth: number;
  transforms: number;
  maxRequestsPerProcess: number;
}

/**
 * A busy process may take another message behind the ones it holds: it has answered before (a process still
 * starting proves nothing yet), is not on trial or retiring, every message on board is written whole (one
 * being written may stall on a slow upstream, while any other process may free up sooner), and it has room
 * in its pipeline and its `maxRequestsPerProcess`.
 */
export function isJoinable<W>(state: ProcessState<W>, facts: JoinFacts): boolean {
  const { life } = state;
  if (life.kind !== 'busy' || state.start !== 'answered' || facts.onTrial || facts.outputPaused) return false;
  if (life.retireAfter !== undefined || life.abandoned !== undefined || !life.works.allWritten) return false;
  const onBoard = life.works.length;
  return onBoard < facts.depth && facts.transforms + onBoard < facts.maxRequestsPerProcess;
}
