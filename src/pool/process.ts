// The shell of one transform process: it hears its child (group-process.ts) and its exchanges, turns each
// into an event for the pure lifecycle (process-state.ts: the state union and its transitions), and carries
// out the effects (process-effects.ts). The messages on board move in process-board.ts (with
// answer-reader.ts, message-writer.ts and in-flight.ts); fate.ts decides who fails at a stop and
// process-exit.ts tells them and describes the end. What the pool hears of it: process-events.ts.
import type { TransformError, TransformErrorCode } from '../shared/errors.ts';
import type { ExitReason, ProcessEventSink } from '../shared/events.ts';
import type { ResolvedOptions } from '../shared/pool-options.ts';
import type { GroupWatchdog } from '../shared/watchdog.ts';
import { createProcessError, createSpawnError, describeProcess, PROCESS_FAULTS } from './errors.ts';
import type { Exchange, ExchangeHost } from './exchange.ts';
import { type ClosedResult, GroupProcess, KILL_GRACE_MS } from './group-process.ts';
import { ProcessAnswers } from './process-answers.ts';
import { type BoardHost, isUnread, isWaiting, ProcessBoard, type Work } from './process-board.ts';
import { carryOut, type EffectHandlers } from './process-effects.ts';
import type { ProcessEvents as Events } from './process-events.ts';
import { type Blame, describeExit, emitExit, type ProcessExit } from './process-exit.ts';
import {
  canStop,
  describeStart,
  isJoinable,
  type LifeEvent,
  type ProcessState,
  transition,
} from './process-state.ts';

export type { ProcessExit } from './process-exit.ts';

/** What the pool hears from a process (see process-events.ts). */
export type ProcessEvents = Events<TransformProcess>;

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
  /**
   * Started to try changed sources (the `watch` option): dying before its first answer is then the change's
   * fault, not the message's, so that message is retried once on another process.
   */
  trial = false;
  readonly #options: ResolvedOptions;
  readonly #events: ProcessEvents;
  readonly #sink: ProcessEventSink;
  readonly #child: GroupProcess;
  readonly #board: ProcessBoard;
  readonly #answers: ProcessAnswers;
  #state: ProcessState<Work> = { life: { kind: 'idle' }, start: 'silent' };
  /**
   * The most messages it may hold: 1 (one client's message at a time) until it announces that it frames by
   * construction, then `pipeline`; `pipeline` from the start when the user set it (and so trusts every process).
   */
  #depth: number;
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
    this.#child = new GroupProcess(options, watchdog, {
      onOutput: (chunk) => {
        this.#apply({ type: 'output' });
        this.#answers.read(chunk);
      },
      onOutputEnd: () => this.#apply({ type: 'output-end' }),
      onInputError: () => this.#apply({ type: 'input-error', foundDead: this.#board.nextIs(isUnread) }),
      onExit: () => this.#apply({ type: 'leader-exit', foundDead: this.#board.nextIs(isWaiting) }),
      onClosed: (result) => this.#onClosed(result),
    });
    this.pid = this.#child.pid;
    this.startedAt = this.#child.startedAt;
    const host = this.#boardHost();
    this.#board = new ProcessBoard(host);
    this.#answers = new ProcessAnswers(host, this.#board);
    if (this.pid !== undefined) sink.emit({ type: 'spawn', pid: this.pid, command: options.commandText });
  }

  /** Completed transforms. */
  get transforms(): number {
    return this.#board.transforms;
  }

  get busy(): boolean {
    return this.#state.life.kind === 'busy';
  }

  /** It has answered at least once. */
  get answered(): boolean {
    return this.#state.start === 'answered';
  }

  /** The most messages it may hold at once, as negotiated (see {@link #depth}). */
  get depth(): number {
    return this.#depth;
  }

  /** Messages on board: written or being written, and not yet done. */
  get inFlight(): number {
    const { life } = this.#state;
    return life.kind === 'busy' ? life.works.length : 0;
  }

  /** A busy process may take another message behind the ones it holds (see process-state.ts). */
  get joinable(): boolean {
    return isJoinable(this.#state, {
      onTrial: this.trial,
      outputPaused: this.#child.outputPaused,
      depth: this.#depth,
      transforms: this.#board.transforms,
      maxRequestsPerProcess: this.#options.maxRequestsPerProcess,
    });
  }

  takes(exchange: Exchange): boolean {
    return this.#board.workOf(exchange) !== undefined;
  }

  /** Run a transform: an idle process takes it, a busy one only while {@link joinable}. */
  run(exchange: Exchange): void {
    const { life } = this.#state;
    const work: Work = { exchange, input: 'waiting', foundDead: false };
    if (life.kind === 'idle') {
      this.#apply({ type: 'run', works: this.#board.boardFirst(work) }, () => {
        exchange.begin(this);
        exchange.onTurn();
      });
      return;
    }
    if (!this.joinable || life.kind !== 'busy') throw new Error(`A ${life.kind} process cannot take work`);
    this.#board.join(life.works, work);
  }

  /** Take no more work; stop once the transforms in flight are done: close stdin, then SIGTERM, then SIGKILL. */
  retire(reason: ExitReason = 'recycle'): void {
    this.#apply({ type: 'retire', reason });
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
    this.#apply({ type: 'abandon', work: this.#board.find(exchange), reason });
  }

  /** The reader has no room. */
  pauseOutput(): void {
    this.#child.pauseOutput();
    this.#board.giveBackWaiting();
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

  #stop(reason: ExitReason, error: TransformError | undefined, blame: Blame): void {
    if (!canStop(this.#state.life)) return;
    const { kept, tell } = this.#board.planStop(blame, error);
    this.#apply({ type: 'stop', reason, works: kept }, tell);
  }

  /** Run the lifecycle on `event` and carry out its effects in order; `step`: the event's own part of them. */
  #apply(event: LifeEvent<Work>, step?: () => void): void {
    const { state, effects } = transition(this.#state, event);
    this.#state = state;
    carryOut(effects, this.#effects, step);
  }

  /** How each effect of the lifecycle is carried out (see process-effects.ts). */
  readonly #effects: EffectHandlers<Work> = {
    'hold-loop': ({ hold }) => this.#child.setRef(hold),
    write: (_, step) => {
      step?.();
      this.#board.writer.start(true);
    },
    'tell-fates': (_, step) => step?.(),
    'notify-retire': () => this.#events.onRetire(this),
    'notify-started': () => this.#events.onStarted(this),
    'notify-idle': () => this.#events.onIdle(this),
    'count-start-failure': () =>
      this.#events.onStartFailure(this, this.#describeExit({ signal: 'SIGTERM' }, 'timeout')),
    'ask-recycle': () => this.#board.askRecycle((retire) => this.#apply({ type: 'verdict', retire })),
    'end-input': () => this.#child.endInput(),
    'stop-reading': () => this.#child.stopReading(),
    terminate: () => this.#child.terminate(),
    'resume-output': () => this.#child.resumeOutput(),
    'read-end': () => this.#answers.readEnd(),
    'release-behind': ({ work }) => this.#board.releaseBehind(work),
    'release-unwritten': () => this.#board.releaseUnwritten(),
    kill: ({ foundDead }) =>
      foundDead
        ? this.kill('crash', this.createError('ERR_TRANSFORM_EXIT', PROCESS_FAULTS.goneBeforeRead), true)
        : this.kill('crash'),
    'stop-for': ({ culprit, reason }) => this.#stop(reason, undefined, { culprit: culprit.exchange }),
    linger: ({ closedStdout }) => this.#linger(closedStdout),
  };

  /**
   * Stop one that lingers a grace later: its stdin failed (a message then fails at the exit, with the exit
   * code), or its output ended inside an answer (that message fails as cut short).
   */
  #linger(closedStdout: boolean): void {
    if (!closedStdout) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = setTimeout(() => this.kill('crash'), KILL_GRACE_MS);
      return;
    }
    this.#lingerTimer = setTimeout(() => {
      this.kill('crash', this.createError('ERR_TRANSFORM_EXIT', PROCESS_FAULTS.closedStdout));
    }, KILL_GRACE_MS);
  }

  /** What the messages on board see of this process (see process-board.ts). */
  #boardHost(): BoardHost {
    const process = this;
    return {
      process: this,
      get state() {
        return process.#state;
      },
      options: this.#options,
      child: this.#child,
      name: describeProcess(this.#options.commandText, this.pid),
      sink: this.#sink,
      announce: (depth) => {
        this.#depth = depth;
      },
      apply: (event) => this.#apply(event),
      stop: (reason, error, blame) => this.#stop(reason, error, blame),
      onRoom: () => this.#events.onRoom(this),
      shouldRetire: () => this.#events.shouldRetire(this),
    };
  }

  #onClosed(result: ClosedResult): void {
    clearTimeout(this.#lingerTimer);
    const { life } = this.#state;
    const onBoard = this.#board.onBoard();
    this.#apply({ type: 'closed' });
    const spawnFailed = this.pid === undefined;
    const exit = this.#describeExit(result, life.kind === 'stopping' ? life.reason : 'crash');
    this.#board.settleAtExit(onBoard, spawnFailed, this.trial && !this.answered, () =>
      spawnFailed
        ? createSpawnError(this.#options.commandText, this.#options.cwd, result.cause)
        : this.createError('ERR_TRANSFORM_EXIT', PROCESS_FAULTS.exited(exit), undefined, exit),
    );
    if (!spawnFailed) emitExit(this.#sink, this.#options, this.pid as number, exit);
    this.#events.onExit(this, exit);
    this.#onceClosed();
  }

  #describeExit(result: ClosedResult, reason: ExitReason): ProcessExit {
    return describeExit(result, reason, {
      spawnFailed: this.pid === undefined,
      ...describeStart(this.#state.start),
      messageId: this.#board.oldest,
      startedAt: this.startedAt,
      stderr: this.#child.stderrTail,
    });
  }
}
