// Over 300 lines still: one process's life is one `State` union whose transitions (stops, retirement, the
// pipeline of messages on board) read and write the same private fields. What needs none of it is apart:
// group-process.ts (spawn, kill, exit), message-writer.ts (the input side), answer-reader.ts (the output
// side: parser, id checks, stale answers), in-flight.ts (the messages on board), fate.ts (who fails at a
// stop) and process-exit.ts (telling them, and describing the end).
import type { TransformError, TransformErrorCode } from '../shared/errors.ts';
import { type ExitReason, getExpiredTimer, type ProcessEventSink } from '../shared/events.ts';
import type { ResolvedOptions } from '../shared/pool-options.ts';
import type { GroupWatchdog } from '../shared/watchdog.ts';
import type { ResponseHead } from '../wire/parser.ts';
import { PIPELINE_FIELD, parseAnnouncedDepth } from '../wire/pipeline-field.ts';
import { AnswerReader, type ReaderHost } from './answer-reader.ts';
import { createProcessError, createSpawnError, describeProcess, PROCESS_FAULTS } from './errors.ts';
import type { Exchange, ExchangeHost } from './exchange.ts';
import { decideFates, findCulprit } from './fate.ts';
import { type ClosedResult, GroupProcess, KILL_GRACE_MS } from './group-process.ts';
import { InFlight } from './in-flight.ts';
import { type MessageProgress, nextTurn, writeMessage } from './message-writer.ts';
import { describeExit, type ProcessExit, settleExit, tellFates } from './process-exit.ts';

export type { ProcessExit } from './process-exit.ts';

/** What the pool hears from a process; events flow one way, process to pool. */
export interface ProcessEvents {
  /** Ready for the next transform. */
  onIdle(process: TransformProcess): void;
  /** Busy, with room in its pipeline for another message: it finished one and holds others. */
  onRoom(process: TransformProcess): void;
  /** It will take no more work: the pool may start its replacement. */
  onRetire(process: TransformProcess): void;
  /** Its first answer head arrived: it has started. */
  onStarted(process: TransformProcess): void;
  /** It was killed by `startTimeout` without a byte of output: a start failure, counted before its replacement starts. */
  onStartFailure(process: TransformProcess, exit: ProcessExit): void;
  /** It exited and every pipe is closed. */
  onExit(process: TransformProcess, exit: ProcessExit): void;
  /** Ask the recycle policy whether to retire after a transform. */
  shouldRetire(process: TransformProcess): boolean | Promise<boolean>;
}

/** One exchange on board a busy process, and how far each direction of it has got. */
interface Work extends MessageProgress {
  exchange: Exchange;
  /** Its answer was handed out whole, after the read that completed it parsed cleanly. */
  closed?: boolean;
}

/** The messages on board, in the order they were written and are answered. */
interface Pipeline {
  works: InFlight<Work>;
  /** Take no more, and retire once the last is done, and why: `Connection: close`, or the pool asked. */
  retireAfter: ExitReason | undefined;
  /**
   * A message whose handler's body failed while it was written behind others: the process waits for the rest
   * of it, so it is killed once the answers ahead of it are in (they are not that message's victims).
   */
  abandoned: Work | undefined;
}

/**
 * The lifecycle of a process. Transitions: idle -> busy (run) -> deciding (its last message done) -> idle |
 * stopping; idle | busy | deciding -> stopping (retire, kill, protocol error); any -> exited (it and its pipes
 * closed). Busy holds one message or, with `pipeline` above 1, several: written back to back, answered in order.
 */
type State =
  | { kind: 'idle' }
  | ({ kind: 'busy' } & Pipeline)
  /** Deciding, after its last transform, whether the recycle policy retires it. */
  | { kind: 'deciding' }
  /**
   * Takes no more work: stdin ended (retired), or signals sent (killed); waiting for the exit. `works` are the
   * exchanges it ended in the middle of, told how they ended at the exit: answered ones are done, the first
   * unanswered one fails with what the exit says.
   */
  | { kind: 'stopping'; reason: ExitReason; signalled: boolean; works: InFlight<Work> }
  | { kind: 'exited' };

/** Who a stop is charged to: `culprit` (or the answer being read), unless `blameless`. */
interface Blame {
  culprit?: Exchange | undefined;
  /** Nobody on board is at fault (a stale answer, a process dead before it read its message): all retried. */
  blameless?: boolean;
  /** The message a stale answer repeats the answer of: it fails all the same (see decideFates). */
  repeated?: Exchange | undefined;
}

/**
 * One long-lived transform process, spawned with execa in its own process group. It runs exchanges in order,
 * up to `pipeline` at once: writes each message after the one before it and reads the answers at once, feeds
 * stdout to a strict parser, and tells each exchange what happened. The whole of a read is parsed before the
 * exchanges are handed their answers or the process goes back to the pool, so bytes left over after the last
 * answer fail it. Any byte written while no exchange is in flight is a protocol error. It keeps the parent's
 * event loop alive only while it works.
 */
export class TransformProcess implements ExchangeHost {
  readonly pid: number | undefined;
  readonly startedAt: number;
  /** Completed transforms. */
  transforms = 0;
  /**
   * Started to try changed sources (the `watch` option): dying before its first answer is then the change's
   * fault, not the message's, so that message is retried once on another process.
   */
  trial = false;
  readonly #options: ResolvedOptions;
  readonly #events: ProcessEvents;
  readonly #sink: ProcessEventSink;
  readonly #child: GroupProcess;
  readonly #reader: AnswerReader<Work>;
  #state: State = { kind: 'idle' };
  /**
   * The most messages it may hold: 1 (one client's message at a time) until it announces that it frames by
   * construction, then `pipeline`; `pipeline` from the start when the user set it (and so trusts every process).
   */
  #depth: number;
  /** It has answered at least once (a head arrived): start-up is over. */
  #answered = false;
  /** It has written a byte to its stdout. */
  #wroteOutput = false;
  /** Its end was counted as a start failure already. */
  #counted = false;
  /** The id of the oldest message it holds, from `run` until that exchange is done. */
  #onBoard: string | undefined;
  /** Its messages are being written, one after another, by {@link #writeMessages}. */
  #writing = false;
  /** Stops a process that closed its stdout in the middle of a message but did not exit. */
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  #onceClosed!: () => void;
  /** Settles once the process has exited and its pipes are closed. */
  readonly closed = new Promise<void>((resolve) => {
    this.#onceClosed = resolve;
  });

  constructor(
    options: ResolvedOptions,
    events: ProcessEvents,
    sink: ProcessEventSink,
    watchdog: GroupWatchdog,
  ) {
    this.#options = options;
    this.#events = events;
    this.#sink = sink;
    this.#depth = options.pipelineSet ? options.pipeline : 1;
    this.#reader = new AnswerReader(options, this.#readerHost());
    this.#child = new GroupProcess(options, watchdog, {
      onOutput: (chunk) => this.#onOutput(chunk),
      onOutputEnd: () => this.#onOutputEnd(),
      onInputError: () => this.#onInputError(),
      onExit: () => this.#onLeaderExit(),
      onClosed: (result) => this.#onClosed(result),
    });
    this.pid = this.#child.pid;
    this.startedAt = this.#child.startedAt;
    if (this.pid !== undefined) sink.emit({ type: 'spawn', pid: this.pid, command: options.commandText });
  }

  get busy(): boolean {
    return this.#state.kind === 'busy';
  }

  /** It has answered at least once. */
  get answered(): boolean {
    return this.#answered;
  }

  /** The most messages it may hold at once, as negotiated (see {@link #depth}). */
  get depth(): number {
    return this.#depth;
  }

  /** Messages on board: written or being written, and not yet done. */
  get inFlight(): number {
    return this.#state.kind === 'busy' ? this.#state.works.length : 0;
  }

  /**
   * A busy process may take another message behind the ones it holds: it has answered before (a process
   * still starting proves nothing yet), is not on trial or retiring, and has room in its pipeline and its
   * `maxRequestsPerProcess`.
   */
  get joinable(): boolean {
    const state = this.#state;
    if (state.kind !== 'busy' || !this.#answered || this.trial) return false;
    if (state.retireAfter !== undefined || state.abandoned !== undefined) return false;
    // An answer it streams waits on its client's reader: a message behind it would wait on that client too.
    if (this.#child.outputPaused) return false;
    // A message still being written (its handler's body may stall on a slow upstream): one behind it would
    // wait for that handler, while any other process may free up sooner.
    if (!state.works.allWritten) return false;
    const { maxRequestsPerProcess } = this.#options;
    return state.works.length < this.#depth && this.transforms + state.works.length < maxRequestsPerProcess;
  }

  takes(exchange: Exchange): boolean {
    return this.#workOf(exchange) !== undefined;
  }

  /** Run a transform: an idle process takes it, a busy one only while {@link joinable}. */
  run(exchange: Exchange): void {
    const state = this.#state;
    const work: Work = { exchange, input: 'waiting', foundDead: false };
    if (state.kind === 'idle') {
      const works = new InFlight<Work>();
      works.push(work);
      this.#state = { kind: 'busy', works, retireAfter: undefined, abandoned: undefined };
      this.#child.setRef(true);
      this.#onBoard = exchange.id;
      exchange.begin(this);
      exchange.onTurn();
      void this.#writeMessages(true);
      return;
    }
    if (!this.joinable || state.kind !== 'busy') {
      throw new Error(`A ${state.kind} process cannot take work`);
    }
    state.works.push(work);
    exchange.begin(this);
    this.#startTurn();
    if (!this.#writing) void this.#writeMessages(false);
  }

  /** Take no more work; stop once the transforms in flight are done: close stdin, then SIGTERM, then SIGKILL. */
  retire(reason: ExitReason = 'recycle'): void {
    const state = this.#state;
    if (state.kind === 'stopping' || state.kind === 'exited') return;
    // The pool hears it at once (it may start a replacement); the pool's side of this is idempotent.
    this.#events.onRetire(this);
    if (state.kind === 'busy') {
      state.retireAfter ??= reason;
      return;
    }
    this.#state = { kind: 'stopping', reason, signalled: false, works: new InFlight() };
    this.#child.endInput();
  }

  /**
   * Stop now: SIGTERM to the process group, SIGKILL after a grace. `error` fails the message being answered
   * (unless `blameless`: then it is retried as every other on board is); without one, that message is told
   * at the exit what the exit says.
   */
  kill(reason: ExitReason, error?: TransformError, blameless = false): void {
    this.#stop(reason, error, { blameless });
  }

  /**
   * An exchange failed in a way that leaves the process out of step (a timeout, a drain past its bound, its
   * handler's body failing while written). The process is replaced; the messages ahead of it still get their
   * answers when the culprit is only written behind them.
   */
  abandon(exchange: Exchange, reason: ExitReason): void {
    const state = this.#state;
    if (state.kind === 'busy') {
      const work = this.#workOf(exchange);
      if (work === undefined) return;
      const { reading } = state.works;
      if (reading !== undefined && state.works.indexOf(work) > state.works.indexOf(reading)) {
        // Behind the answer being read: let the answers ahead of it come, then kill (see #afterRead).
        state.abandoned = work;
        this.#stopTaking(state, reason);
        this.#releaseBehind(state, work, this.#victimError());
        return;
      }
    } else if (state.kind !== 'stopping' || !state.works.entries.some((work) => work.exchange === exchange)) {
      return;
    }
    this.#stop(reason, undefined, { culprit: exchange });
  }

  #stop(reason: ExitReason, error: TransformError | undefined, blame: Blame): void {
    const state = this.#state;
    if (state.kind === 'exited' || (state.kind === 'stopping' && state.signalled)) return;
    const onBoard = state.kind === 'busy' || state.kind === 'stopping' ? state.works : new InFlight<Work>();
    const works = [...onBoard.entries];
    const board = works.map((work, index) => ({
      answered: onBoard.isAnswered(index),
      closed: work.closed === true,
      unread: this.#unread(work),
    }));
    const named =
      blame.culprit === undefined ? undefined : works.findIndex((work) => work.exchange === blame.culprit);
    const culprit = findCulprit(board, named);
    const fates = decideFates(board, {
      culprit,
      error: error !== undefined,
      blameless: blame.blameless === true,
      repeated: works.findIndex((work) => work.exchange === blame.repeated),
    });
    onBoard.remove((_, index) => fates[index] !== 'kept');
    this.#state = {
      kind: 'stopping',
      // A process retired already keeps the reason it was retired for.
      reason: state.kind === 'stopping' ? state.reason : reason,
      signalled: true,
      works: onBoard,
    };
    // Never read another byte from it: its framing can no longer be trusted.
    this.#child.stopReading();
    if (reason === 'timeout' && !this.#answered && !this.#wroteOutput && !this.#counted) {
      // Killed by startTimeout: counted now, so the backoff holds its replacement back.
      this.#counted = true;
      this.#events.onStartFailure(this, this.#describeExit({ signal: 'SIGTERM' }, 'timeout'));
    }
    // A message it never read (it is retried) did not end it: its end counts as one with no message on board.
    this.#onBoard = blame.blameless || culprit === undefined ? undefined : works[culprit]?.exchange.id;
    // The exchanges first: retries go back to the head of the queue before a replacement can take work.
    tellFates(works, fates, error ?? this.#victimError());
    this.#retireUnlessStartFailure(reason);
    this.#child.terminate();
  }

  /** What a message on board fails with, when it cannot be retried, if its process stops for another's fault. */
  #victimError(): TransformError {
    return this.createError('ERR_TRANSFORM_EXIT', PROCESS_FAULTS.stoppedForEarlier);
  }

  /** Take no more messages: the pool may start a replacement now. */
  #stopTaking(state: Pipeline, reason: ExitReason): void {
    state.retireAfter ??= reason;
    this.#events.onRetire(this);
  }

  /** The messages behind `work` will never be answered here: each is retried once on another process. */
  #releaseBehind(state: Pipeline, work: Work, error: TransformError): void {
    const index = state.works.indexOf(work);
    const behind = state.works.remove((_, at) => at > index);
    for (const released of behind.reverse()) this.#release(released, error);
  }

  /** A message on board that will not be answered here, for no fault of its own: run again elsewhere. */
  #release(work: Work, error: TransformError): void {
    // One no transform could have read is run again as if never taken: that is not an attempt.
    if (this.#unread(work)) work.exchange.onNotRead(error);
    else work.exchange.onFailed(error, true);
  }

  /**
   * Let the pool start a replacement now, unless this end may be a start failure (a crash without a byte of
   * output): then the exit, counted first, decides whether the replacement waits for the backoff.
   */
  #retireUnlessStartFailure(reason: ExitReason): void {
    if (reason === 'crash' && !this.#answered && !this.#wroteOutput) return;
    this.#events.onRetire(this);
  }

  /** The reader has no room. */
  pauseOutput(): void {
    this.#child.pauseOutput();
    this.#giveBackWaiting();
  }

  /**
   * The answer being read waits on its client's reader, and so does every message behind it: those not yet
   * written (a byte of them never left) go back to the queue, to wait for any process rather than that client.
   */
  #giveBackWaiting(): void {
    const state = this.#state;
    if (state.kind !== 'busy') return;
    const { reading } = state.works;
    const waiting = state.works.remove(
      (work) => work !== reading && work.input === 'waiting' && !work.exchange.hasOutput,
    );
    for (const work of waiting.reverse()) work.exchange.giveBack();
  }

  /** The reader has room again. */
  resumeOutput(): void {
    this.#child.resumeOutput();
  }

  createError(
    code: TransformErrorCode,
    message: string,
    cause?: unknown,
    exit?: ProcessExit,
  ): TransformError {
    const context = { command: this.#options.commandText, pid: this.pid, stderr: this.#child.stderrTail };
    return createProcessError(context, code, message, cause, exit);
  }

  /**
   * Write the messages on board, each after the one before it, those behind others of one turn in one writev.
   * `afterTurn`: the process was idle, so one turn of the event loop passes first (see {@link nextTurn}).
   */
  async #writeMessages(afterTurn: boolean): Promise<void> {
    this.#writing = true;
    try {
      if (afterTurn) await nextTurn();
      for (let emptyPipe = afterTurn; ; emptyPipe = false) {
        const state = this.#state;
        const work = state.kind === 'busy' ? state.works.writing : undefined;
        if (work === undefined || work.input !== 'waiting') return;
        const { exchange } = work;
        // The messages of one turn go out in one writev, as long as they fit an empty pipe together: a
        // failure of the first message's first write then still tells a process found dead.
        this.#child.holdWritesForTurn();
        const written = await writeMessage({
          emptyPipe,
          nextBatch: () => exchange.nextBatch(this),
          current: () => this.#workOf(exchange),
          write: (batch, onWritten) => this.#child.write(batch, onWritten),
          drained: () => this.#child.drained(),
          hasOutput: () => exchange.hasOutput,
        });
        const current = this.#workOf(exchange);
        // The process is going, or this message moved on: the stop decides for the rest on board.
        if (!written || current === undefined || this.#state.kind !== 'busy') return;
        this.#state.works.write();
        current.input = 'written';
        exchange.onWritten();
        this.#finishIfComplete();
        this.#startTurn();
        // Written whole: a message waiting may now join it (see joinable).
        if (this.joinable) this.#events.onRoom(this);
      }
    } finally {
      this.#writing = false;
    }
  }

  /** Its message cannot have been read: none of it was written, or its stdin was closed before it. */
  #unread(work: Work): boolean {
    return !work.exchange.hasOutput && (work.input === 'waiting' || work.foundDead);
  }

  /** The work on `exchange`, while this process is busy with it. */
  #workOf(exchange: Exchange): Work | undefined {
    const state = this.#state;
    if (state.kind !== 'busy') return undefined;
    return state.works.entries.find((work) => work.exchange === exchange);
  }

  #describe(): string {
    return describeProcess(this.#options.commandText, this.pid);
  }

  /** Busy, and the message whose answer comes next cannot have been read: nobody on board is to blame. */
  #foundDead(unread: (work: Work) => boolean): boolean {
    const state = this.#state;
    if (state.kind !== 'busy') return false;
    const next = state.works.reading;
    return next !== undefined && unread(next);
  }

  /**
   * Its stdin is gone: it can take no more input, so it is of no use even if it lingers. Messages it was
   * found dead on are retried now, before a replacement takes other work; any other fails at the exit, with
   * the exit code.
   */
  #onInputError(): void {
    const state = this.#state;
    if (state.kind === 'exited' || state.kind === 'stopping') return;
    if (this.#foundDead((work) => this.#unread(work))) {
      this.kill('crash', this.createError('ERR_TRANSFORM_EXIT', PROCESS_FAULTS.goneBeforeRead), true);
      return;
    }
    if (state.kind !== 'busy') {
      this.kill('crash');
      return;
    }
    // Its output may still hold answers it wrote before it went: read on to its end, where the exit or the
    // end of output decides, so an answer in the pipe is never dropped for a write that failed after it.
    // Those never written go elsewhere now; one that lingers is stopped a grace later.
    state.retireAfter ??= 'crash';
    const unwritten = state.works.remove((work) => this.#unread(work) && work.input === 'waiting');
    for (const work of unwritten.reverse()) work.exchange.onNotRead(this.#victimError());
    this.#retireUnlessStartFailure('crash');
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = setTimeout(() => this.kill('crash'), KILL_GRACE_MS);
  }

  /** It exited: a message not yet written to it is retried now; any other waits for the pipes to close. */
  #onLeaderExit(): void {
    if (this.#foundDead((work) => work.input === 'waiting')) {
      this.kill('crash', this.createError('ERR_TRANSFORM_EXIT', PROCESS_FAULTS.goneBeforeRead), true);
    }
  }

  /** A head with a good id for `work`, the message being answered. */
  #onHead(work: Work, head: ResponseHead): void {
    const state = this.#state;
    if (state.kind !== 'busy') return;
    // Its own announcement, never the handler's (those never reach the input), and never passed on.
    const announcement = head.headers.get(PIPELINE_FIELD);
    if (announcement !== null) {
      head.headers.delete(PIPELINE_FIELD);
      const announced = parseAnnouncedDepth(announcement);
      if (announced !== undefined) this.#depth = Math.min(this.#options.pipeline, announced);
    }
    if (!this.#answered) {
      this.#answered = true;
      this.#events.onStarted(this);
    }
    // It will send nothing more (RFC 9112 section 9.6): it retires after this one, and the messages behind
    // it go to another process.
    if (head.close) {
      state.retireAfter ??= 'recycle';
      this.#releaseBehind(state, work, this.#victimError());
    }
    const reason = head.headers.get('transform-error');
    if (reason !== null) {
      this.#sink.emit({
        type: 'transform-error',
        pid: this.pid as number,
        command: this.#options.commandText,
        reason,
      });
    }
    work.exchange.onHead(head);
  }

  #onAnswered(work: Work): void {
    work.exchange.onAnswered();
    // Its reader may have filled up on it: the answer behind it must find output flowing.
    this.#child.resumeOutput();
    this.#startTurn();
  }

  /**
   * The message whose answer is next gets its turn (its clock starts) once every message ahead of it is
   * written too: one answered before the transform read all its input may still be fed by a slow handler,
   * and the message behind it cannot even be written until then.
   */
  #startTurn(): void {
    const state = this.#state;
    if (state.kind === 'busy' && state.works.readingHasTurn) state.works.reading?.exchange.onTurn();
  }

  #onOutput(chunk: Uint8Array): void {
    this.#wroteOutput = true;
    this.#reader.read(chunk);
  }

  #onOutputEnd(): void {
    const state = this.#state;
    // Stopping already: its output is not read any more, and an error found in it was reported once.
    if (state.kind === 'stopping' || state.kind === 'exited') return;
    if (state.kind !== 'busy') {
      // It closed its stdout while it had nothing to say: it can never answer again.
      this.kill('crash');
      return;
    }
    // Completes a body delimited by the end of output.
    if (!this.#reader.end()) return;
    const next = state.works.reading;
    if (next === undefined) this.#afterRead();
    else this.#onCutShort(state, next);
  }

  /**
   * Its output ended before the answer to `work` did. Found dead before that message could be read: every
   * message on board is retried now. Otherwise that message may have been read, so it fails, never retried:
   * at the exit, which comes at once and says how the process ended, or a grace later for one that lingers,
   * which is then stopped; the messages behind it are retried now. Either way the process takes no more work.
   */
  #onCutShort(state: Pipeline, work: Work): void {
    if (this.#unread(work)) {
      this.kill('crash', this.createError('ERR_TRANSFORM_EXIT', PROCESS_FAULTS.goneBeforeRead), true);
      return;
    }
    this.#releaseBehind(state, work, this.#victimError());
    this.#state = { kind: 'stopping', reason: 'crash', signalled: false, works: state.works };
    this.#retireUnlessStartFailure('crash');
    this.#lingerTimer = setTimeout(() => {
      const error = this.createError('ERR_TRANSFORM_EXIT', PROCESS_FAULTS.closedStdout);
      this.kill('crash', error);
    }, KILL_GRACE_MS);
  }

  /** A read parsed cleanly: hand out what it brought, then finish the exchanges that are complete. */
  #afterRead(): void {
    const state = this.#state;
    if (state.kind !== 'busy') return;
    state.works.entries.forEach((work, index) => {
      work.exchange.deliver();
      if (state.works.isAnswered(index)) work.closed = true;
    });
    this.#finishIfComplete();
    // A message abandoned behind others whose answers are now all in: the process can be stopped.
    const now = this.#state;
    if (now.kind === 'busy' && now.abandoned !== undefined && now.abandoned === now.works.reading) {
      this.#stop('abort', undefined, { culprit: now.abandoned.exchange });
    }
  }

  /**
   * The oldest messages on board that are done both ways, once the read that ended each answer parsed whole
   * (this runs between reads, never inside the parser's callbacks), leave it; with none left, the process is
   * clean again.
   */
  #finishIfComplete(): void {
    const state = this.#state;
    if (state.kind !== 'busy') return;
    let finished = 0;
    for (let work = state.works.shiftDone(); work !== undefined; work = state.works.shiftDone()) {
      this.transforms++;
      finished++;
      work.exchange.onDone();
      // The recycle policy hears of each transform, several answers in one read included; while others are
      // on board it may retire the process after them. The one that empties it is decided below.
      if (state.works.length > 0 && this.transforms < this.#options.maxRequestsPerProcess) {
        this.#askRecycle((retire) => retire && this.retire('recycle'));
      }
    }
    if (finished === 0 || this.#state !== state) return;
    this.#onBoard = state.works.entries[0]?.exchange.id;
    const limitReached = this.transforms >= this.#options.maxRequestsPerProcess;
    if (state.works.length > 0) {
      if (limitReached) this.retire('recycle');
      if (this.joinable) this.#events.onRoom(this);
      return;
    }
    // The last chunk may have filled the reader's queue: the next transform must find output flowing.
    this.#child.resumeOutput();
    this.#child.setRef(false);
    const { retireAfter } = state;
    this.#state = { kind: 'deciding' };
    if (retireAfter !== undefined || limitReached) {
      this.#state = { kind: 'idle' };
      this.retire(retireAfter ?? 'recycle');
      return;
    }
    this.#askRecycle((retire) => {
      if (this.#state.kind !== 'deciding') return;
      this.#state = { kind: 'idle' };
      if (retire) this.retire('recycle');
      else this.#events.onIdle(this);
    });
  }

  /** Ask the recycle policy, at once or when its promise settles; a hook that throws retires the process. */
  #askRecycle(settle: (retire: boolean) => void): void {
    const verdict = this.#events.shouldRetire(this);
    if (typeof verdict === 'boolean') {
      settle(verdict);
      return;
    }
    verdict.then(settle, (error: unknown) => {
      console.error('subprocess-transform: the recycle hook threw; retiring the process', error);
      settle(true);
    });
  }

  /** The answer reader's view of this process (see answer-reader.ts). */
  #readerHost(): ReaderHost<Work> {
    const process = this;
    return {
      get board() {
        return process.#state.kind === 'busy' ? process.#state.works : undefined;
      },
      get name() {
        return process.#describe();
      },
      createError: (code, message, cause) => this.createError(code, message, cause),
      onHead: (work, head) => this.#onHead(work, head),
      onBody: (work, chunk) => {
        if (!work.exchange.onBody(chunk)) this.pauseOutput();
      },
      onAnswered: (work) => this.#onAnswered(work),
      onRead: () => this.#afterRead(),
      onProtocolError: (error, detail, bytes, stale, repeated) =>
        this.#onProtocolError(error, detail, bytes, stale, repeated),
    };
  }

  /** Its framing can no longer be trusted: fail what is in flight, never read another byte, replace it. */
  #onProtocolError(
    reason: TransformError,
    detail: string,
    bytes: string,
    stale: boolean,
    repeated: Work | undefined,
  ): void {
    // Killed already (a client left, a timeout): the rest of the read it was in is not its answer any more.
    if (this.#state.kind === 'stopping' && this.#state.signalled) return;
    this.#sink.emit({
      type: 'protocol-error',
      pid: this.pid as number,
      command: this.#options.commandText,
      message: detail,
      bytes,
    });
    // A process on trial after a watched edit that breaks the protocol before its first answer is the
    // edit's fault, as when it dies then (see #onClosed): its message goes to an old process once.
    const editFault = this.trial && !this.#answered;
    this.#stop('protocol', reason, { blameless: stale || editFault, repeated: repeated?.exchange });
  }

  #onClosed(result: ClosedResult): void {
    clearTimeout(this.#lingerTimer);
    const state = this.#state;
    this.#state = { kind: 'exited' };
    const spawnFailed = this.pid === undefined;
    const onBoard = state.kind === 'busy' || state.kind === 'stopping' ? state.works : new InFlight<Work>();
    const exit = this.#describeExit(result, state.kind === 'stopping' ? state.reason : 'crash');
    settleExit(onBoard, {
      spawnFailed,
      trialBeforeAnswer: this.trial && !this.#answered,
      failure: () =>
        spawnFailed
          ? createSpawnError(this.#options.commandText, this.#options.cwd, result.cause)
          : this.#exitError(exit),
      unread: (work) => this.#unread(work),
      release: (work) => this.#release(work, this.#victimError()),
      count: () => this.transforms++,
    });
    if (!spawnFailed) {
      this.#sink.emit({
        type: 'exit',
        pid: this.pid as number,
        command: this.#options.commandText,
        code: exit.exitCode,
        signal: exit.signal,
        reason: exit.reason,
        ...(exit.reason === 'timeout' && { timer: getExpiredTimer(this.#options, exit) }),
      });
    }
    this.#events.onExit(this, exit);
    this.#onceClosed();
  }

  #describeExit(result: ClosedResult, reason: ExitReason): ProcessExit {
    return describeExit(result, reason, {
      spawnFailed: this.pid === undefined,
      answered: this.#answered,
      wroteOutput: this.#wroteOutput,
      messageId: this.#onBoard,
      counted: this.#counted,
      startedAt: this.startedAt,
      stderr: this.#child.stderrTail,
    });
  }

  #exitError(exit: ProcessExit): TransformError {
    return this.createError('ERR_TRANSFORM_EXIT', PROCESS_FAULTS.exited(exit), undefined, exit);
  }
}
