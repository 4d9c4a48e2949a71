// The output side of one process as the process sees it: what each answer does to it (a pipeline
// announcement, its first head, `Connection: close`, a `Transform-Error`), the answers handed out after each
// clean read, a protocol error, and the end of its output. Parsing and id checks are answer-reader.ts; the
// messages on board move in process-board.ts; the lifecycle is process-state.ts, run by process.ts.
import type { TransformError } from '../shared/errors.ts';
import type { ResponseHead } from '../wire/parser.ts';
import { PIPELINE_FIELD, parseAnnouncedDepth } from '../wire/pipeline-field.ts';
import { AnswerReader, type ReaderHost } from './answer-reader.ts';
import type { InFlight } from './in-flight.ts';
import { type BoardHost, isUnread, type ProcessBoard, type Work } from './process-board.ts';

/** Feeds one process's stdout to its reader and acts on what the reader finds. */
export class ProcessAnswers {
  readonly #process: BoardHost;
  readonly #board: ProcessBoard;
  readonly #reader: AnswerReader<Work>;
  /** It announced that it frames every answer by construction (see pipeline-field.ts). */
  #announced = false;

  constructor(process: BoardHost, board: ProcessBoard) {
    this.#process = process;
    this.#board = board;
    this.#reader = new AnswerReader(process.options, this.#readerHost());
  }

  /** One read of its stdout. */
  read(chunk: Uint8Array): void {
    this.#reader.read(chunk);
  }

  /** Its output ended while busy: completes a body delimited by the end, then judges what is left. */
  readEnd(): void {
    if (!this.#reader.end()) return;
    const { life } = this.#process.state;
    const next = life.kind === 'busy' ? life.works.reading : undefined;
    if (next === undefined) this.#afterRead();
    else this.#process.apply({ type: 'cut-short', work: next, unread: isUnread(next) });
  }

  /** A head with a good id for `work`, the message being answered. */
  #onHead(work: Work, head: ResponseHead): void {
    const host = this.#process;
    if (host.state.life.kind !== 'busy') return;
    // Its own announcement, never the handler's (those never reach the input), and never passed on.
    const announcement = head.headers.get(PIPELINE_FIELD);
    if (announcement !== null) {
      head.headers.delete(PIPELINE_FIELD);
      const announced = parseAnnouncedDepth(announcement);
      if (announced !== undefined) {
        this.#announced = true;
        host.announce(Math.min(host.options.pipeline, announced));
      }
    }
    host.apply({ type: 'head', work, close: head.close });
    const reason = head.headers.get('transform-error');
    if (reason !== null) {
      const { commandText: command } = host.options;
      host.sink.emit({ type: 'transform-error', pid: host.process.pid as number, command, reason });
    }
    work.exchange.onHead(head);
  }

  /** A read parsed cleanly: hand out what it brought, then finish the exchanges that are complete. */
  #afterRead(): void {
    const { life } = this.#process.state;
    if (life.kind !== 'busy') return;
    life.works.entries.forEach((work, index) => {
      work.exchange.deliver();
      if (life.works.isAnswered(index)) work.closed = true;
    });
    this.#board.finishIfComplete();
    // A message abandoned behind others whose answers are now all in: the process can be stopped.
    const now = this.#process.state.life;
    if (now.kind === 'busy' && now.abandoned !== undefined && now.abandoned === now.works.reading) {
      this.#process.stop('abort', undefined, { culprit: now.abandoned.exchange });
    }
  }

  /** Its framing can no longer be trusted: fail what is in flight, never read another byte, replace it. */
  #onProtocolError(
    reason: TransformError,
    detail: string,
    bytes: string,
    stale: boolean,
    repeated: Work | undefined,
    afterAnswers: boolean,
  ): void {
    const host = this.#process;
    const { life, start } = host.state;
    // Killed already (a client left, a timeout): the rest of the read it was in is not its answer any more.
    if (life.kind === 'stopping' && life.signalled) return;
    // Framed by construction, and the next answer began where they ended: the answers that came whole in
    // this read are theirs, whatever broke after them (a head over the limits that user code returned).
    if (afterAnswers && this.#announced && life.kind === 'busy') this.#handOutAnswered(life.works);
    const { commandText: command } = host.options;
    host.sink.emit({
      type: 'protocol-error',
      pid: host.process.pid as number,
      command,
      message: detail,
      bytes,
    });
    // A process on trial after a watched edit that breaks the protocol before its first answer is the
    // edit's fault, as when it dies then: its message goes to an old process once.
    const editFault = host.process.trial && start !== 'answered';
    host.stop('protocol', reason, { blameless: stale || editFault, repeated: repeated?.exchange });
  }

  /** Hand out each answer on `works` that came whole and is not out yet: a stop then lets it stand. */
  #handOutAnswered(works: InFlight<Work>): void {
    works.entries.forEach((work, index) => {
      if (!works.isAnswered(index) || work.closed) return;
      work.exchange.deliver();
      work.closed = true;
    });
  }

  /** The answer reader's view of the process (see answer-reader.ts). */
  #readerHost(): ReaderHost<Work> {
    const host = this.#process;
    const isAnnounced = (): boolean => this.#announced;
    return {
      get board() {
        const { life } = host.state;
        return life.kind === 'busy' ? life.works : undefined;
      },
      get name() {
        return host.name;
      },
      createError: (code, message, cause) => host.process.createError(code, message, cause),
      onHead: (work, head) => this.#onHead(work, head),
      onBody: (work, chunk) => {
        if (!work.exchange.onBody(chunk)) {
          host.child.pauseOutput();
          this.#board.giveBackWaiting();
        }
      },
      onAnswered: (work) => {
        work.exchange.onAnswered();
        // Its reader may have filled up on it: the answer behind it must find output flowing.
        host.child.resumeOutput();
        this.#board.startTurn();
      },
      // Framed by construction, an answer over the body limit ends where it says: only it fails, and the
      // process, with the messages behind it already handed to its transform, is kept.
      get framedByConstruction() {
        return isAnnounced();
      },
      onOverLimit: (work, detail) => work.exchange.onOverLimit(detail),
      onRead: () => this.#afterRead(),
      onProtocolError: (error, detail, bytes, stale, repeated, afterAnswers) =>
        this.#onProtocolError(error, detail, bytes, stale, repeated, afterAnswers),
    };
  }
}
