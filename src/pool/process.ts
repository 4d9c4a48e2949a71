import { TransformError, type TransformErrorCode } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { WireError } from '../wire/errors.ts';
import { type ResponseHead, ResponseParser } from '../wire/parser.ts';
import { describeCause } from './backoff.ts';
import { type ExitReason, escapeBytes, type ProcessEventSink } from './events.ts';
import type { Exchange, ExchangeHost } from './exchange.ts';
import { type ClosedResult, GroupProcess, KILL_GRACE_MS } from './group-process.ts';
import { RequestIdCheck } from './request-id.ts';
import type { GroupWatchdog } from './watchdog.ts';

/** How a process ended. */
export interface ProcessExit {
  exitCode: number | undefined;
  signal: string | undefined;
  /** It never ran: the command could not be started. */
  spawnFailed: boolean;
  reason: ExitReason;
  /** It answered at least once (a head arrived). */
  answered: boolean;
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
  /** It exited and every pipe is closed. */
  onExit(process: TransformProcess, exit: ProcessExit): void;
  /** Ask the recycle policy whether to retire after a transform. */
  shouldRetire(process: TransformProcess): boolean | Promise<boolean>;
}

/** Bytes of the output that broke the protocol shown in its event. */
const OFFENDING_BYTES = 64;

/** The exchange a busy process runs, and how far each direction of it has got. */
interface Work {
  exchange: Exchange;
  /** Every byte of the message is written. */
  written: boolean;
  /** The answer is parsed to its end. */
  answered: boolean;
  /** The first write failed while it fit in an empty pipe: the process was gone before this message. */
  foundDead: boolean;
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
  readonly #ids: RequestIdCheck;
  /** The id of the last message it answered, to tell a late second answer to it from a wrong one. */
  #previousId: string | undefined;
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
        onMessageBegin: () => this.#onMessageBegin(),
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
      written: false,
      answered: false,
      foundDead: false,
      retireAfter: undefined,
    };
    this.#child.setRef(true);
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
    // The exchange first: a retry goes back to the head of the queue before a replacement can take work.
    if (error !== undefined) work?.exchange.onFailed(error, unanswered);
    this.#events.onRetire(this);
    this.#child.terminate();
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
    let first = true;
    try {
      for (;;) {
        const batch = await exchange.nextBatch(this);
        const work = this.#workOf(exchange);
        if (batch === 'stale' || work === undefined) return;
        if (batch === undefined) break;
        const small = first && byteLength(batch) <= PIPE_CAPACITY;
        first = false;
        const ok = this.#child.write(batch, (error) => {
          if (error && small && !exchange.hasOutput) work.foundDead = true;
        });
        if (!ok) await this.#child.drained();
      }
    } catch {
      // stdin failed: the process is gone or going; its exit decides between a retry and a failure.
      return;
    }
    const work = this.#workOf(exchange);
    if (work === undefined) return;
    work.written = true;
    exchange.onWritten();
    this.#finishIfComplete();
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
    if (state.kind === 'busy' && state.foundDead && !state.exchange.hasOutput) {
      this.kill('crash', this.createError('ERR_TRANSFORM_EXIT', 'was gone before it read its message'), true);
      return;
    }
    this.kill('crash');
  }

  #onMessageBegin(): void {
    const work = this.#work();
    if (work.answered) {
      throw this.createError(
        'ERR_TRANSFORM_PROTOCOL',
        'wrote more after its answer: a second response, or a body longer than its Content-Length',
      );
    }
    work.exchange.onMessageBegin();
  }

  #onHead(head: ResponseHead): void {
    const work = this.#work();
    const id = head.context.get('id');
    const idProblem = this.#ids.check(work.exchange.id, id);
    if (idProblem !== undefined) {
      const error = this.createError('ERR_TRANSFORM_PROTOCOL', idProblem);
      // A second answer to the message before: provably not this message's answer, nor its fault.
      if (id !== undefined && id === this.#previousId) this.#staleAnswer = error;
      throw error;
    }
    this.#answered = true;
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
    const offset = this.#parser.offset;
    try {
      this.#parser.push(chunk);
    } catch (error) {
      this.#onProtocolError(error, chunk, offset);
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
    if (!state.exchange.hasOutput && this.#parser.idle) {
      // Exiting, most likely: its exit code says whether its message crashed it. One that lingers without a
      // stdout is stopped a grace later; like one that exits with code 0, it was done, and its message is
      // retried.
      this.#lingerTimer = setTimeout(() => {
        const error = this.createError('ERR_TRANSFORM_EXIT', 'closed its stdout before answering');
        this.kill('crash', error, true);
      }, KILL_GRACE_MS);
      return;
    }
    try {
      // Completes a body delimited by the end of output; a cut-off message is left to the exit to report.
      this.#parser.end();
    } catch (error) {
      if (!(error instanceof WireError && error.code === 'ERR_WIRE_INCOMPLETE')) {
        this.#onProtocolError(error, new Uint8Array(0), this.#parser.offset);
      }
      return;
    }
    this.#afterRead();
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
    if (state.kind !== 'busy' || !state.written || !state.answered) return;
    const { exchange, retireAfter } = state;
    this.transforms++;
    this.#previousId = exchange.id;
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
    const reason =
      error instanceof TransformError
        ? error
        : this.createError(
            'ERR_TRANSFORM_PROTOCOL',
            `broke the protocol: ${(error as Error).message}`,
            error,
          );
    const at = error instanceof WireError ? Math.max(0, error.offset - chunkOffset) : 0;
    this.#sink.emit({
      type: 'protocol-error',
      pid: this.pid as number,
      command: this.#options.commandText,
      message: reason.message,
      bytes: escapeBytes(chunk.subarray(at, at + OFFENDING_BYTES)),
    });
    this.kill('protocol', reason, reason === this.#staleAnswer);
  }

  #onClosed(result: ClosedResult): void {
    clearTimeout(this.#lingerTimer);
    const state = this.#state;
    this.#state = { kind: 'exited' };
    const spawnFailed = this.pid === undefined;
    const exit: ProcessExit = {
      exitCode: result.exitCode,
      signal: result.signal,
      spawnFailed,
      reason: state.kind === 'stopping' ? state.reason : 'crash',
      answered: this.#answered,
      uptime: Date.now() - this.startedAt,
      cause: result.cause,
      stderr: this.#child.stderrTail,
    };
    const work = state.kind === 'busy' ? state : state.kind === 'stopping' ? state.work : undefined;
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
      // Dead before it read the message, or it stopped by itself (code 0) without a word for it: it was
      // done, not crashed by this message. A crash (any other code, a signal) is never retried.
      const stopped = exit.reason === 'crash' && exit.exitCode === 0 && exit.signal === undefined;
      const blameless = work.foundDead || stopped || (this.trial && !this.#answered);
      const unanswered = !spawnFailed && !work.exchange.hasOutput && blameless;
      work.exchange.onFailed(reason, unanswered);
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

  #exitError(exit: ProcessExit): TransformError {
    const how =
      exit.signal !== undefined ? `was killed with ${exit.signal}` : `exited with code ${exit.exitCode}`;
    return this.createError('ERR_TRANSFORM_EXIT', `${how} before its response was complete`, undefined, exit);
  }
}

/**
 * A live process's empty pipe takes this much without blocking (Linux's default pipe capacity), so a first
 * write this small that fails means the process was gone before the message, not killed by it.
 */
const PIPE_CAPACITY = 64 * 1024;

function byteLength(batch: readonly Uint8Array[]): number {
  let size = 0;
  for (const view of batch) size += view.byteLength;
  return size;
}
