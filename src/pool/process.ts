// Over 300 lines on purpose: one process's life is one `State` union whose transitions (output, exit
// bookkeeping, kill) read and write the same private fields, and a split would hand half of that state
// across a file. What needs none of it is apart: group-process.ts (spawn, kill, exit), message-writer.ts
// (the input side), request-id.ts (the id checks).
import { TransformError, type TransformErrorCode } from '../shared/errors.ts';
import { type ExitReason, escapeBytes, type ProcessEventSink } from '../shared/events.ts';
import type { ResolvedOptions } from '../shared/pool-options.ts';
import type { GroupWatchdog } from '../shared/watchdog.ts';
import { describeCause } from '../util/describe-value.ts';
import { WireError } from '../wire/errors.ts';
import { type ResponseHead, ResponseParser } from '../wire/parser.ts';
import type { Exchange, ExchangeHost } from './exchange.ts';
import { type ClosedResult, GroupProcess, KILL_GRACE_MS } from './group-process.ts';
import { type MessageProgress, writeMessage } from './message-writer.ts';
import { AnsweredIds, RequestIdCheck } from './request-id.ts';

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

/** What the pool hears from a process; events flow one way, process to pool. */
export interface ProcessEvents {
  /** Ready for the next transform. */
  onIdle(process: TransformProcess): void;
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

/** Bytes of the output that broke the protocol shown in its event. */
const OFFENDING_BYTES = 64;

/** The exchange a busy process runs, and how far each direction of it has got. */
interface Work extends MessageProgress {
  exchange: Exchange;
  /** The answer is parsed to its end. */
  answered: boolean;
  /** Retire once this is done, and why: the transform said `Connection: close`, or the pool asked. */
  retireAfter: ExitReason | undefined;
}

/**
 * The lifecycle of a process. Transitions: idle -> busy (run) -> deciding (clean finish) -> idle | stopping;
 * idle | busy | deciding -> stopping (retire, kill, protocol error); any -> exited (it and its pipes closed).
 */
type State =
  | { kind: 'idle' }
  | ({ kind: 'busy' } & Work)
  /** Deciding, after a transform, whether the recycle policy retires it. */
  | { kind: 'deciding' }
  /**
   * Takes no more work: stdin ended (retired), or signals sent (killed); waiting for the exit. `work` is the
   * exchange it was killed in the middle of, told how it ended at the exit.
   */
  | { kind: 'stopping'; reason: ExitReason; signalled: boolean; work: Work | undefined }
  | { kind: 'exited' };

/**
 * One long-lived transform process, spawned with execa in its own process group. It runs one exchange at a
 * time: writes its message and reads the answer at once, feeds stdout to a strict parser, and tells the
 * exchange what happened. The whole of a read is parsed before the exchange is handed its answer or the
 * process goes back to the pool, so bytes left over after an answer fail that answer. Any byte written while
 * no exchange is in flight is a protocol error. It keeps the parent's event loop alive only while it works.
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
  readonly #parser: ResponseParser;
  #state: State = { kind: 'idle' };
  /** It has answered at least once (a head arrived): start-up is over. */
  #answered = false;
  /** It has written a byte to its stdout. */
  #wroteOutput = false;
  /** Its end was counted as a start failure already. */
  #counted = false;
  /** Stream offset of the last message its output began: where an error found by the pool starts. */
  #messageOffset = 0;
  /** Output began again after a complete answer, and its head has not come yet. */
  #outputAfterAnswer = false;
  /** The id of the message it holds, from `run` until that exchange is done. */
  #onBoard: string | undefined;
  readonly #ids: RequestIdCheck;
  /** Ids of the messages it answered, to tell a late second answer to any of them from a wrong one. */
  readonly #answeredIds = new AnsweredIds();
  /** Stops a process that closed its stdout in the middle of a message but did not exit. */
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** The protocol error of a stale answer, found while parsing a read. */
  #staleAnswer: TransformError | undefined;
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
    this.#ids = new RequestIdCheck(options.requireRequestId);
    this.#parser = new ResponseParser(
      {
        onMessageBegin: (offset) => {
          this.#messageOffset = offset;
          this.#onMessageBegin();
        },
        onHead: (head) => this.#onHead(head),
        onBody: (chunk) => {
          if (!this.#work().exchange.onBody(chunk)) this.#child.pauseOutput();
        },
        onMessageEnd: () => this.#onMessageEnd(),
      },
      { limits: options.limits },
    );
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

  takes(exchange: Exchange): boolean {
    return this.#workOf(exchange) !== undefined;
  }

  /** Run a transform. Only an idle process takes one. */
  run(exchange: Exchange): void {
    if (this.#state.kind !== 'idle') throw new Error(`A ${this.#state.kind} process cannot take work`);
    this.#state = {
      kind: 'busy',
      exchange,
      input: 'waiting',
      answered: false,
      foundDead: false,
      retireAfter: undefined,
    };
    this.#child.setRef(true);
    this.#onBoard = exchange.id;
    exchange.begin(this);
    void this.#writeMessage(exchange);
  }

  /** Take no more work; stop once the transform in flight is done: close stdin, then SIGTERM, then SIGKILL. */
  retire(reason: ExitReason = 'recycle'): void {
    const state = this.#state;
    if (state.kind === 'stopping' || state.kind === 'exited') return;
    // The pool hears it at once (it may start a replacement); the pool's side of this is idempotent.
    this.#events.onRetire(this);
    if (state.kind === 'busy') {
      state.retireAfter ??= reason;
      return;
    }
    this.#state = { kind: 'stopping', reason, signalled: false, work: undefined };
    this.#child.endInput();
  }

  /** Stop now: fail what is in flight with `error`, SIGTERM to the process group, SIGKILL after a grace. */
  kill(reason: ExitReason, error?: TransformError, unanswered = false): void {
    const state = this.#state;
    if (state.kind === 'exited' || (state.kind === 'stopping' && state.signalled)) return;
    const work = state.kind === 'busy' ? state : state.kind === 'stopping' ? state.work : undefined;
    this.#state = {
      kind: 'stopping',
      // A process retired already keeps the reason it was retired for.
      reason: state.kind === 'stopping' ? state.reason : reason,
      signalled: true,
      // Failed now with `error`, or at the exit with what the exit says.
      work: error === undefined ? work : undefined,
    };
    // Never read another byte from it: its framing can no longer be trusted.
    this.#child.stopReading();
    if (reason === 'timeout' && !this.#answered && !this.#wroteOutput && !this.#counted) {
      // Killed by startTimeout: counted now, so the backoff holds its replacement back.
      this.#counted = true;
      this.#events.onStartFailure(this, this.#describeExit({ signal: 'SIGTERM' }, 'timeout'));
    }
    // A message it never read (it is retried) did not end it: its end counts as one with no message on board.
    if (unanswered) this.#onBoard = undefined;
    // The exchange first: a retry goes back to the head of the queue before a replacement can take work.
    if (error !== undefined) work?.exchange.onFailed(error, unanswered);
    this.#retireUnlessStartFailure(reason);
    this.#child.terminate();
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
    return new TransformError(code, `${this.#describe()} ${message}`, {
      cause,
      command: this.#options.commandText,
      pid: this.pid,
      exitCode: exit?.exitCode,
      signal: exit?.signal,
      stderr: this.#child.stderrTail,
    });
  }

  #work(): Work {
    const state = this.#state;
    if (state.kind !== 'busy') {
      throw this.createError('ERR_TRANSFORM_PROTOCOL', 'wrote output while no transform was in flight');
    }
    return state;
  }

  async #writeMessage(exchange: Exchange): Promise<void> {
    const written = await writeMessage({
      nextBatch: () => exchange.nextBatch(this),
      current: () => this.#workOf(exchange),
      write: (batch, onWritten) => this.#child.write(batch, onWritten),
      drained: () => this.#child.drained(),
      hasOutput: () => exchange.hasOutput,
    });
    const work = this.#workOf(exchange);
    if (!written || work === undefined) return;
    work.input = 'written';
    exchange.onWritten();
    this.#finishIfComplete();
  }

  /** Its message cannot have been read: none of it was written, or its stdin was closed before it. */
  #unread(work: Work): boolean {
    return !work.exchange.hasOutput && (work.input === 'waiting' || work.foundDead);
  }

  /** The work on `exchange`, while this process is busy with it. */
  #workOf(exchange: Exchange): Work | undefined {
    const state = this.#state;
    return state.kind === 'busy' && state.exchange === exchange ? state : undefined;
  }

  #describe(): string {
    return `Transform "${this.#options.commandText}" (pid ${this.pid ?? 'none'})`;
  }

  /**
   * Its stdin is gone: it can take no more input, so it is of no use even if it lingers. A message it was
   * found dead on is retried now, before a replacement takes other work; any other fails at the exit, with
   * the exit code.
   */
  #onInputError(): void {
    const state = this.#state;
    if (state.kind === 'exited' || state.kind === 'stopping') return;
    if (state.kind === 'busy' && this.#unread(state)) {
      this.kill('crash', this.createError('ERR_TRANSFORM_EXIT', 'was gone before it read its message'), true);
      return;
    }
    this.kill('crash');
  }

  /** It exited: a message not yet written to it is retried now; any other waits for the pipes to close. */
  #onLeaderExit(): void {
    const state = this.#state;
    if (state.kind === 'busy' && state.input === 'waiting') {
      this.kill('crash', this.createError('ERR_TRANSFORM_EXIT', 'was gone before it read its message'), true);
    }
  }

  #onMessageBegin(): void {
    const work = this.#work();
    // More output after a complete answer: judged by its head (a stale repeat of an answer), or, if the read
    // ends before the head does, at the end of the read (see #afterRead).
    if (work.answered) {
      this.#outputAfterAnswer = true;
      return;
    }
    work.exchange.onMessageBegin();
  }

  #wroteMore(): TransformError {
    return this.createError(
      'ERR_TRANSFORM_PROTOCOL',
      'wrote more after its answer: a second response, or a body longer than its Content-Length',
    );
  }

  #onHead(head: ResponseHead): void {
    const work = this.#work();
    const id = head.context.get('id');
    if (work.answered) {
      // A second answer right behind a complete one, in the same read. With the id of a message answered
      // before this one, it is a stale repeat: not this message's fault, which is retried once (see
      // #onProtocolError). Anything else, its own id again included, casts doubt on the answer it follows.
      if (id === undefined || id === work.exchange.id || !this.#answeredIds.has(id)) throw this.#wroteMore();
      this.#staleAnswer = this.createError(
        'ERR_TRANSFORM_PROTOCOL',
        `wrote a second answer to a message it answered before (Transform-Request-Id ${id})`,
      );
      throw this.#staleAnswer;
    }
    const idProblem = this.#ids.check(work.exchange.id, id);
    if (idProblem !== undefined) {
      const error = this.createError('ERR_TRANSFORM_PROTOCOL', idProblem);
      // A second answer to a message it answered before, however long ago: provably not this message's
      // answer, nor its fault.
      if (id !== undefined && this.#answeredIds.has(id)) this.#staleAnswer = error;
      throw error;
    }
    if (!this.#answered) {
      this.#answered = true;
      this.#events.onStarted(this);
    }
    // It will send nothing more (RFC 9112 section 9.6).
    if (head.close) work.retireAfter ??= 'recycle';
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

  #onMessageEnd(): void {
    const work = this.#work();
    work.answered = true;
    work.exchange.onAnswered();
  }

  #onOutput(chunk: Uint8Array): void {
    this.#wroteOutput = true;
    const offset = this.#parser.offset;
    try {
      this.#parser.push(chunk);
    } catch (error) {
      this.#onProtocolError(error, chunk, offset);
      return;
    }
    // The read ended inside more output after a complete answer, before that output's head did: bytes left
    // over, which no head can excuse any more.
    const state = this.#state;
    if (state.kind === 'busy' && this.#outputAfterAnswer) {
      this.#onProtocolError(this.#wroteMore(), chunk, offset);
      return;
    }
    this.#afterRead();
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
    try {
      // Completes a body delimited by the end of output.
      this.#parser.end();
    } catch (error) {
      if (!(error instanceof WireError && error.code === 'ERR_WIRE_INCOMPLETE')) {
        this.#onProtocolError(error, new Uint8Array(0), this.#parser.offset);
        return;
      }
    }
    if (state.answered) this.#afterRead();
    else this.#onCutShort(state);
  }

  /**
   * Its output ended before its answer did. Found dead before its message could be read: retried now. Any
   * other message it may have read, so it fails, never retried: at the exit, which comes at once and says
   * how the process ended, or a grace later for one that lingers, which is then stopped. Either way the
   * process takes no more work from now on.
   */
  #onCutShort(work: Work): void {
    if (this.#unread(work)) {
      this.kill('crash', this.createError('ERR_TRANSFORM_EXIT', 'was gone before it read its message'), true);
      return;
    }
    this.#state = { kind: 'stopping', reason: 'crash', signalled: false, work };
    this.#retireUnlessStartFailure('crash');
    this.#lingerTimer = setTimeout(() => {
      const error = this.createError(
        'ERR_TRANSFORM_EXIT',
        'closed its stdout before its response was complete',
      );
      this.kill('crash', error);
    }, KILL_GRACE_MS);
  }

  /** A read parsed cleanly: hand out what it brought, then finish the exchange if it is complete. */
  #afterRead(): void {
    const state = this.#state;
    if (state.kind !== 'busy') return;
    state.exchange.deliver();
    this.#finishIfComplete();
  }

  /**
   * Both directions done, and the read that ended the answer parsed whole (this runs between reads, never
   * inside the parser's callbacks): the process is clean again.
   */
  #finishIfComplete(): void {
    const state = this.#state;
    if (state.kind !== 'busy' || state.input !== 'written' || !state.answered) return;
    const { exchange, retireAfter } = state;
    this.transforms++;
    this.#onBoard = undefined;
    this.#answeredIds.add(exchange.id);
    // The last chunk may have filled the reader's queue: the next transform must find output flowing.
    this.#child.resumeOutput();
    this.#child.setRef(false);
    const limitReached = this.transforms >= this.#options.maxRequestsPerProcess;
    this.#state = { kind: 'deciding' };
    exchange.onDone();
    if (retireAfter !== undefined || limitReached) {
      this.#state = { kind: 'idle' };
      this.retire(retireAfter ?? 'recycle');
      return;
    }
    this.#decide();
  }

  #decide(): void {
    const settle = (retire: boolean): void => {
      if (this.#state.kind !== 'deciding') return;
      this.#state = { kind: 'idle' };
      if (retire) this.retire('recycle');
      else this.#events.onIdle(this);
    };
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

  /** Its framing can no longer be trusted: fail what is in flight, never read another byte, replace it. */
  #onProtocolError(error: unknown, chunk: Uint8Array, chunkOffset: number): void {
    // Killed already (a client left, a timeout): the rest of the read it was in is not its answer any more.
    if (this.#state.kind === 'stopping' && this.#state.signalled) return;
    // The event's message is the bare detail: its log line names the process once.
    const detail =
      error instanceof TransformError
        ? error.message.slice(this.#describe().length + 1)
        : (error as Error).message;
    const reason =
      error instanceof TransformError
        ? error
        : this.createError('ERR_TRANSFORM_PROTOCOL', `broke the protocol: ${detail}`, error);
    // From the first unexpected byte: where the parser stopped, or where the message the pool refused began.
    const offset = error instanceof WireError ? error.offset : this.#messageOffset;
    const at = Math.max(0, offset - chunkOffset);
    this.#sink.emit({
      type: 'protocol-error',
      pid: this.pid as number,
      command: this.#options.commandText,
      message: detail,
      bytes: escapeBytes(chunk.subarray(at, at + OFFENDING_BYTES)),
    });
    // A process on trial after a watched edit that breaks the protocol before its first answer is the
    // edit's fault, as when it dies then (see #onClosed): its message goes to an old process once.
    const editFault = this.trial && !this.#answered;
    this.kill('protocol', reason, reason === this.#staleAnswer || editFault);
  }

  #onClosed(result: ClosedResult): void {
    clearTimeout(this.#lingerTimer);
    const state = this.#state;
    this.#state = { kind: 'exited' };
    const spawnFailed = this.pid === undefined;
    const work = state.kind === 'busy' ? state : state.kind === 'stopping' ? state.work : undefined;
    const exit = this.#describeExit(result, state.kind === 'stopping' ? state.reason : 'crash');
    if (work?.answered) {
      // Its answer came whole before it went (it did not wait for the rest of its input): that one is done.
      this.transforms++;
      work.exchange.onDone();
    } else if (work !== undefined) {
      const reason = spawnFailed
        ? new TransformError(
            'ERR_TRANSFORM_SPAWN',
            `Transform "${this.#options.commandText}" could not be started: ${describeCause(result.cause)}${this.#options.cwd === undefined ? '' : ` (cwd "${this.#options.cwd}")`}`,
            { cause: result.cause, command: this.#options.commandText },
          )
        : this.#exitError(exit);
      // Retried only if it was dead before it could read the message: one that read it and then exited,
      // even with code 0, may have crashed on it or acted on it. A process on trial after a watched edit
      // that dies before its first answer is the edit's fault, not the message's: that message goes to an
      // old process once.
      const blameless = this.#unread(work) || (this.trial && !this.#answered && !work.exchange.hasOutput);
      work.exchange.onFailed(reason, !spawnFailed && blameless);
    }
    if (!spawnFailed) {
      this.#sink.emit({
        type: 'exit',
        pid: this.pid as number,
        command: this.#options.commandText,
        code: exit.exitCode,
        signal: exit.signal,
        reason: exit.reason,
      });
    }
    this.#events.onExit(this, exit);
    this.#onceClosed();
  }

  #describeExit(result: ClosedResult, reason: ExitReason): ProcessExit {
    return {
      exitCode: result.exitCode,
      signal: result.signal,
      spawnFailed: this.pid === undefined,
      reason,
      answered: this.#answered,
      wroteOutput: this.#wroteOutput,
      messageId: this.#onBoard,
      counted: this.#counted,
      uptime: Date.now() - this.startedAt,
      cause: result.cause,
      stderr: this.#child.stderrTail,
    };
  }

  #exitError(exit: ProcessExit): TransformError {
    const how =
      exit.signal !== undefined ? `was killed with ${exit.signal}` : `exited with code ${exit.exitCode}`;
    return this.createError('ERR_TRANSFORM_EXIT', `${how} before its response was complete`, undefined, exit);
  }
}
