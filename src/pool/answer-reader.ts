// The output side of one process: its stdout fed to a strict parser, each answer matched to the message on
// board it answers (ids checked, stale repeats told from wrong answers), and a broken read described once.
// What an answer does to the process (its depth, its start, a retirement) stays with the process.
import { TransformError } from '../shared/errors.ts';
import { describeStrayOutput, excerptOutput } from '../shared/events.ts';
import type { ResolvedOptions } from '../shared/pool-options.ts';
import { WireError } from '../wire/errors.ts';
import { type ResponseHead, ResponseParser } from '../wire/parser.ts';
import { PROCESS_FAULTS } from './errors.ts';
import type { Exchange, ExchangeHost } from './exchange.ts';
import type { InFlight } from './in-flight.ts';
import { AnsweredIds, RequestIdCheck } from './request-id.ts';

/** A message on board, as the reader sees it. */
export interface Answerable {
  exchange: Exchange;
}

/** What the reader hears and asks of its process. */
export interface ReaderHost<W extends Answerable> extends Pick<ExchangeHost, 'createError'> {
  /** The messages on board while the process is busy; undefined otherwise (any output is then an error). */
  readonly board: InFlight<W> | undefined;
  /** How the process is named at the start of its errors' messages. */
  readonly name: string;
  /** A head came for `work`, the message being answered, with a good id. */
  onHead(work: W, head: ResponseHead): void;
  onBody(work: W, chunk: Uint8Array): void;
  /** The answer to `work` is parsed to its end. */
  onAnswered(work: W): void;
  /** It announced that it frames every answer by construction: an answer over `maxBodyBytes` may fail alone. */
  readonly framedByConstruction: boolean;
  /**
   * The answer to `work`, from a process framed by construction, is over `maxBodyBytes` (`detail` says how):
   * true when that answer alone fails and the rest of it is read and dropped; false when it breaks the protocol.
   */
  onOverLimit(work: W, detail: string): boolean;
  /** A read parsed cleanly. */
  onRead(): void;
  /**
   * Its framing can no longer be trusted. `detail`: the error without the process's name; `bytes`: an
   * excerpt from the first unexpected byte; `stale`: a repeat of an answer to an earlier message, which is
   * not the fault of the messages on board, except `repeated`: the one answered again, if still on board.
   * `afterAnswers`: the parser broke inside an answer on board that began, in this read, with a status line,
   * so the answers before it ended where an answer begins.
   */
  onProtocolError(
    error: TransformError,
    detail: string,
    bytes: string,
    stale: boolean,
    repeated: W | undefined,
    afterAnswers: boolean,
  ): void;
}

/** Parses one process's stdout into answers for the messages on board, in order. */
export class AnswerReader<W extends Answerable> {
  readonly #host: ReaderHost<W>;
  readonly #parser: ResponseParser;
  readonly #ids: RequestIdCheck;
  /** Ids of the messages it answered, to tell a late second answer to any of them from a wrong one. */
  readonly #answeredIds = new AnsweredIds();
  /** Stream offset of the last message its output began: where an error found by the pool starts. */
  #messageOffset = 0;
  /** Output began again after a complete answer, and its head has not come yet. */
  #outputAfterAnswer = false;
  /** The protocol error of a stale answer, found while parsing a read. */
  #staleAnswer: TransformError | undefined;
  /** The message on board that stale answer repeats the answer of (answered in the same read, or not yet done). */
  #repeated: W | undefined;

  constructor(options: ResolvedOptions, host: ReaderHost<W>) {
    this.#host = host;
    this.#ids = new RequestIdCheck(options.requireRequestId);
    const takeOverLimit = (error: WireError): boolean => {
      const work = host.board?.reading;
      return work !== undefined && host.onOverLimit(work, error.message);
    };
    this.#parser = new ResponseParser(
      {
        onMessageBegin: (offset) => {
          this.#messageOffset = offset;
          this.#onMessageBegin();
        },
        onHead: (head) => this.#onHead(head),
        onBody: (chunk) => host.onBody(this.#reading(), chunk),
        onMessageEnd: () => this.#onMessageEnd(),
        // Read at each answer over the limit: any other process's is refused before its head (never heard as
        // an answer: no Transform-Error, no start), as the parser does without the event.
        get onOverLimit() {
          return host.framedByConstruction ? takeOverLimit : undefined;
        },
      },
      { limits: options.limits },
    );
  }

  /** Parse one read of its stdout: a clean read is handed on whole ({@link ReaderHost.onRead}), a broken one reported. */
  read(chunk: Uint8Array): void {
    const offset = this.#parser.offset;
    try {
      this.#parser.push(chunk);
    } catch (error) {
      this.#fail(error, chunk, offset);
      return;
    }
    // The read ended inside more output after the last complete answer, before that output's head did:
    // bytes left over, which no head can excuse any more.
    if (this.#host.board !== undefined && this.#outputAfterAnswer) {
      this.#fail(this.#wroteMore(), chunk, offset);
      return;
    }
    this.#host.onRead();
  }

  /**
   * Its stdout ended: completes a body delimited by the end of output. False when that broke the protocol
   * (reported); an answer merely cut short is for the process to judge.
   */
  end(): boolean {
    try {
      this.#parser.end();
    } catch (error) {
      if (!(error instanceof WireError && error.code === 'ERR_WIRE_INCOMPLETE')) {
        this.#fail(error, new Uint8Array(0), this.#parser.offset);
        return false;
      }
    }
    return true;
  }

  #reading(): W {
    const work = this.#host.board?.reading;
    if (work === undefined) throw this.#noTransformError();
    return work;
  }

  #noTransformError(): TransformError {
    return this.#host.createError('ERR_TRANSFORM_PROTOCOL', PROCESS_FAULTS.outputWhileIdle);
  }

  #wroteMore(): TransformError {
    return this.#host.createError('ERR_TRANSFORM_PROTOCOL', PROCESS_FAULTS.wroteMore);
  }

  #onMessageBegin(): void {
    const board = this.#host.board;
    // More output after the last complete answer: judged by its head (a stale repeat of an answer), or, if the
    // read ends before the head does, at the end of the read (see read).
    if (board !== undefined && board.reading === undefined) {
      this.#outputAfterAnswer = true;
      return;
    }
    this.#reading().exchange.onMessageBegin();
  }

  #onHead(head: ResponseHead): void {
    const board = this.#host.board;
    const id = head.context.get('id');
    if (board === undefined) throw this.#noTransformError();
    const work = board.reading;
    if (work === undefined) this.#onHeadAfterAnswers(board, id);
    const idProblem = this.#ids.check(work.exchange.id, id);
    if (idProblem !== undefined) {
      const error = this.#host.createError('ERR_TRANSFORM_PROTOCOL', idProblem);
      // A second answer to a message it answered before (among the last MAX_ANSWERED_IDS): provably not this message's
      // answer, nor its fault.
      if (id !== undefined && this.#answeredIds.has(id)) this.#onStale(board, id, error);
      throw error;
    }
    this.#host.onHead(work, head);
  }

  /** A head with nothing on board left to answer: a stale repeat of an earlier answer, or more than it owes. */
  #onHeadAfterAnswers(board: InFlight<W>, id: string | undefined): never {
    // With the id of a message answered before the last one, it is a stale repeat: not the fault of the
    // messages on board, which are retried once (see #fail). Anything else, the last message's own id again
    // included, casts doubt on the answer it follows.
    if (id === undefined || id === board.last?.exchange.id || !this.#answeredIds.has(id))
      throw this.#wroteMore();
    const error = this.#host.createError('ERR_TRANSFORM_PROTOCOL', PROCESS_FAULTS.staleAnswer(id));
    this.#onStale(board, id, error);
    throw error;
  }

  /**
   * A stale answer with `id`: the message it repeats, if still on board, is the one that misbehaved (with
   * several on board, the repeat lands while another client's message is being answered); the rest are not.
   */
  #onStale(board: InFlight<W>, id: string, error: TransformError): void {
    this.#staleAnswer = error;
    this.#repeated = board.entries.find((work) => work.exchange.id === id);
  }

  #onMessageEnd(): void {
    const board = this.#host.board;
    if (board?.reading === undefined) throw this.#noTransformError();
    const work = board.answer();
    this.#answeredIds.add(work.exchange.id);
    this.#host.onAnswered(work);
  }

  /** Describe what broke the protocol, from the first unexpected byte, and report it. */
  #fail(error: unknown, chunk: Uint8Array, chunkOffset: number): void {
    // From the first unexpected byte: where the parser stopped, or where the message the pool refused began.
    const offset = error instanceof WireError ? error.offset : this.#messageOffset;
    const at = Math.max(0, offset - chunkOffset);
    const messageAt = Math.min(Math.max(0, this.#messageOffset - chunkOffset), at);
    // Whether the output begins as an answer can be told only when the message began in this read.
    const messageStart = this.#messageOffset >= chunkOffset ? chunk.subarray(messageAt) : new Uint8Array(0);
    // The event's message is the bare detail: its log line names the process once.
    const detail =
      error instanceof TransformError
        ? error.message.slice(this.#host.name.length + 1)
        : `${(error as Error).message}${describeStrayOutput(messageStart)}`;
    const reason =
      error instanceof TransformError
        ? error
        : this.#host.createError('ERR_TRANSFORM_PROTOCOL', PROCESS_FAULTS.brokeProtocol(detail), error);
    const stale = reason === this.#staleAnswer;
    const afterAnswers =
      error instanceof WireError &&
      this.#host.board?.reading !== undefined &&
      beginsWithStatusLine(messageStart);
    this.#host.onProtocolError(
      reason,
      detail,
      excerptOutput(chunk, at, messageAt),
      stale,
      stale ? this.#repeated : undefined,
      afterAnswers,
    );
  }
}

/** `HTTP/1.1`, a space, three digits, then a space or the line's end: a status line by its syntax alone. */
const STATUS_LINE_START = /^HTTP\/1\.1 \d{3}[ \r]/;

/**
 * Whether `bytes` begin as an answer does: any status code, an interim one included (refused later, but a sign
 * that the answer before ended where an answer begins).
 */
function beginsWithStatusLine(bytes: Uint8Array): boolean {
  return STATUS_LINE_START.test(new TextDecoder('latin1').decode(bytes.subarray(0, 13)));
}
