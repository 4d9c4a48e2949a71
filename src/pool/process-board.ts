// The messages on board of one process as they move: taken on (the first, or one joining those on board),
// written (the board writer's view of the process), finished once done both ways (the recycle policy asked),
// given back for a slow reader, released when they cannot be answered there, and judged at a stop (fate.ts).
// The answers' side is process-answers.ts; the lifecycle is process-state.ts (pure), run by process.ts, the
// shell both report to.
import type { TransformError } from '../shared/errors.ts';
import type { ExitReason, ProcessEventSink } from '../shared/events.ts';
import type { ResolvedOptions } from '../shared/pool-options.ts';
import { PROCESS_FAULTS } from './errors.ts';
import type { Exchange, ExchangeHost } from './exchange.ts';
import type { GroupProcess } from './group-process.ts';
import { InFlight } from './in-flight.ts';
import { type BoardTarget, BoardWriter, type MessageProgress } from './message-writer.ts';
import { type Blame, planStop, settleExit, tellFates } from './process-exit.ts';
import type { LifeEvent, ProcessState } from './process-state.ts';

/** One exchange on board a busy process, and how far each direction of it has got. */
export interface Work extends MessageProgress {
  exchange: Exchange;
  /** Its answer was handed out whole, after the read that completed it parsed cleanly. */
  closed?: boolean;
}

/** The process's own side, as the board and the answers use it. */
interface BoardProcess extends ExchangeHost {
  readonly trial: boolean;
  readonly joinable: boolean;
  retire(reason: ExitReason): void;
}

/** What the board needs of its process (process.ts) besides its own side. */
export interface BoardHost {
  readonly process: BoardProcess;
  readonly state: ProcessState<Work>;
  readonly options: ResolvedOptions;
  readonly child: GroupProcess;
  /** How the process is named at the start of its errors' messages. */
  readonly name: string;
  readonly sink: ProcessEventSink;
  /** It announced how many messages it frames by construction (`Transform-Pipeline`). */
  announce(depth: number): void;
  apply(event: LifeEvent<Work>): void;
  stop(reason: ExitReason, error: TransformError | undefined, blame: Blame): void;
  /** Busy with room for another message (the pool's `onRoom`). */
  onRoom(): void;
  shouldRetire(): boolean | Promise<boolean>;
}

/** Its message cannot have been read: none of it was written, or its stdin was closed before it. */
export function isUnread(work: Work): boolean {
  return !work.exchange.hasOutput && (work.input === 'waiting' || work.foundDead);
}

/** Not a byte of its message was written yet. */
export function isWaiting(work: Work): boolean {
  return work.input === 'waiting';
}

/** Moves the messages on board of one process between its writer, its reader and its exchanges. */
export class ProcessBoard {
  readonly #host: BoardHost;
  /** Completed transforms. */
  transforms = 0;
  /** The id of the oldest message on board, from `run` until that exchange is done; what an exit names. */
  oldest: string | undefined;
  readonly writer: BoardWriter<Work>;

  constructor(host: BoardHost) {
    this.#host = host;
    this.writer = new BoardWriter(this.#writerTarget());
  }

  /** Take `work` as the first on board of an idle process: its id names the process's end until done. */
  boardFirst(work: Work): InFlight<Work> {
    const works = new InFlight<Work>();
    works.push(work);
    this.oldest = work.exchange.id;
    return works;
  }

  /** Take `work` behind those on board of a joinable process, and write it after them. */
  join(works: InFlight<Work>, work: Work): void {
    works.push(work);
    work.exchange.begin(this.#host.process);
    this.startTurn();
    this.writer.start(false);
  }

  /** The messages on board: those it is busy with or stopped in the middle of, or none. */
  onBoard(): InFlight<Work> {
    const { life } = this.#host.state;
    return life.kind === 'busy' || life.kind === 'stopping' ? life.works : new InFlight<Work>();
  }

  /** The work on `exchange`, while the process is busy with it. */
  workOf(exchange: Exchange): Work | undefined {
    const { life } = this.#host.state;
    if (life.kind !== 'busy') return undefined;
    return life.works.entries.find((work) => work.exchange === exchange);
  }

  /**
   * Decide each message's fate at a stop (fate.ts): those not kept leave the board now, and `tell` tells them,
   * once the lifecycle has moved to stopping.
   */
  planStop(blame: Blame, error: TransformError | undefined): { kept: InFlight<Work>; tell(): void } {
    const kept = this.onBoard();
    const { works, fates, culprit } = planStop(kept, blame, error !== undefined, isUnread);
    kept.remove((_, index) => fates[index] !== 'kept');
    const tell = (): void => {
      // A message it never read (it is retried) did not end it: its end counts as one with no message on board.
      this.oldest = blame.blameless || culprit === undefined ? undefined : works[culprit]?.exchange.id;
      tellFates(works, fates, error ?? this.victimError());
    };
    return { kept, tell };
  }

  /** Tell each message still on `board` how the exit went for it (see process-exit.ts). */
  settleAtExit(
    board: InFlight<Work>,
    spawnFailed: boolean,
    trialBeforeAnswer: boolean,
    failure: () => TransformError,
  ): void {
    settleExit(board, {
      spawnFailed,
      trialBeforeAnswer,
      failure,
      unread: isUnread,
      release: (work) => this.release(work),
      count: () => this.transforms++,
    });
  }

  /** Busy, and the message whose answer comes next is one `test` picks (found dead: nobody is to blame). */
  nextIs(test: (work: Work) => boolean): boolean {
    const { life } = this.#host.state;
    const next = life.kind === 'busy' ? life.works.reading : undefined;
    return next !== undefined && test(next);
  }

  /** The work on `exchange` while the process is busy with it or stopping with it on board. */
  find(exchange: Exchange): Work | undefined {
    const { life } = this.#host.state;
    if (life.kind !== 'busy' && life.kind !== 'stopping') return undefined;
    return life.works.entries.find((work) => work.exchange === exchange);
  }

  /** What a message on board fails with, when it cannot be retried, if its process stops for another's fault. */
  victimError(): TransformError {
    return this.#host.process.createError('ERR_TRANSFORM_EXIT', PROCESS_FAULTS.stoppedForEarlier);
  }

  /** A message on board that will not be answered here, for no fault of its own: run again elsewhere. */
  release(work: Work): void {
    // One no transform could have read is run again as if never taken: that is not an attempt.
    if (isUnread(work)) work.exchange.onNotRead(this.victimError());
    else work.exchange.onFailed(this.victimError(), true);
  }

  /** The messages behind `work` will never be answered here: each is retried once on another process. */
  releaseBehind(work: Work): void {
    const { life } = this.#host.state;
    if (life.kind !== 'busy' && life.kind !== 'stopping') return;
    const index = life.works.indexOf(work);
    const behind = life.works.remove((_, at) => at > index);
    for (const released of behind.reverse()) this.release(released);
  }

  /** Its stdin is gone: the messages never written go elsewhere now. */
  releaseUnwritten(): void {
    const { life } = this.#host.state;
    if (life.kind !== 'busy') return;
    const unwritten = life.works.remove((work) => isUnread(work) && work.input === 'waiting');
    for (const work of unwritten.reverse()) work.exchange.onNotRead(this.victimError());
  }

  /**
   * The answer being read waits on its client's reader, and so does every message behind it: those not yet
   * written (a byte of them never left) go back to the queue, to wait for any process rather than that client.
   */
  giveBackWaiting(): void {
    const { life } = this.#host.state;
    if (life.kind !== 'busy') return;
    const { reading } = life.works;
    const waiting = life.works.remove(
      (work) => work !== reading && work.input === 'waiting' && !work.exchange.hasOutput,
    );
    for (const work of waiting.reverse()) work.exchange.giveBack();
  }

  /**
   * The message whose answer is next gets its turn (its clock starts) once every message ahead of it is
   * written too: one answered before the transform read all its input may still be fed by a slow handler,
   * and the message behind it cannot even be written until then.
   */
  startTurn(): void {
    const { life } = this.#host.state;
    if (life.kind === 'busy' && life.works.readingHasTurn) life.works.reading?.exchange.onTurn();
  }

  /**
   * The oldest messages on board that are done both ways, once the read that ended each answer parsed whole
   * (this runs between reads, never inside the parser's callbacks), leave it; with none left, the process is
   * clean again.
   */
  finishIfComplete(): void {
    const host = this.#host;
    const { life } = host.state;
    if (life.kind !== 'busy') return;
    const { maxRequestsPerProcess } = host.options;
    let finished = 0;
    for (let work = life.works.shiftDone(); work !== undefined; work = life.works.shiftDone()) {
      this.transforms++;
      finished++;
      work.exchange.onDone();
      // The recycle policy hears of each transform, several answers in one read included; while others are
      // on board it may retire the process after them. The one that empties it is decided by the lifecycle.
      if (life.works.length > 0 && this.transforms < maxRequestsPerProcess) {
        this.askRecycle((retire) => retire && host.process.retire('recycle'));
      }
    }
    // Stopped meanwhile (a retirement keeps the board: the rest is decided below).
    const now = host.state.life;
    if (finished === 0 || now.kind !== 'busy' || now.works !== life.works) return;
    this.oldest = life.works.entries[0]?.exchange.id;
    const limitReached = this.transforms >= maxRequestsPerProcess;
    if (life.works.length === 0) {
      host.apply({ type: 'emptied', limitReached });
      return;
    }
    if (limitReached) host.process.retire('recycle');
    if (host.process.joinable) host.onRoom();
  }

  /** Ask the recycle policy, at once or when its promise settles; a hook that throws retires the process. */
  askRecycle(settle: (retire: boolean) => void): void {
    const verdict = this.#host.shouldRetire();
    if (typeof verdict === 'boolean') {
      settle(verdict);
      return;
    }
    verdict.then(settle, (error: unknown) => {
      console.error('subprocess-transform: the recycle hook threw; retiring the process', error);
      settle(true);
    });
  }

  /** The board writer's view of the process (see message-writer.ts). */
  #writerTarget(): BoardTarget<Work> {
    const host = this.#host;
    return {
      next: () => {
        const { life } = host.state;
        return life.kind === 'busy' ? life.works.writing : undefined;
      },
      target: (work, emptyPipe) => ({
        emptyPipe,
        nextBatch: () => work.exchange.nextBatch(host.process),
        current: () => this.workOf(work.exchange),
        write: (batch, onWritten) => host.child.write(batch, onWritten),
        drained: () => host.child.drained(),
        hasOutput: () => work.exchange.hasOutput,
      }),
      holdWritesForTurn: () => host.child.holdWritesForTurn(),
      onWritten: (work) => {
        const { life } = host.state;
        // The process is going, or this message moved on: the stop decides for the rest on board.
        if (life.kind !== 'busy' || this.workOf(work.exchange) === undefined) return false;
        life.works.write();
        work.input = 'written';
        work.exchange.onWritten();
        this.finishIfComplete();
        this.startTurn();
        // Written whole: a message waiting may now join it (see joinable).
        if (host.process.joinable) host.onRoom();
        return true;
      },
    };
  }
}
