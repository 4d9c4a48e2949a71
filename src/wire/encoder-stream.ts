import {
  concatBytes,
  encodeResponse,
  type ResponseEncoder,
  resolveSerializeInit,
  type SerializeInit,
} from './serialize.ts';

type State =
  /** Taking Responses. */
  | 'open'
  /** The writer closed: every Response written is out and the readable is closed. */
  | 'closed'
  /** A body failed, a non-Response was written, the writer aborted or the reader cancelled. */
  | 'failed';

/**
 * Encodes Responses as HTTP/1.1 bytes, like `TextEncoderStream` encodes text: a readable/writable pair for
 * `pipeThrough`, with the encoder of {@link serializeResponse}. Each Response is written completely, head and
 * body, before the next one is taken; each chunk read is one coalesced batch (a head with a body that was
 * complete without waiting, sent with `Content-Length`, or one chunk of a streaming body with its chunked
 * framing). Bodies are read only as fast as the readable is: nothing is encoded ahead of a read.
 *
 * A body that errors, or a chunk that is not a Response, errors both sides (the message is cut short, so the
 * output never looks complete). Cancelling the readable cancels the body being sent and errors the writable.
 *
 * It is a readable/writable pair rather than a `TransformStream` subclass (as `TextEncoderStream` and
 * `CompressionStream` are) because a transformer cannot see its readable being read in the middle of one
 * Response, and one Response can be any number of bytes.
 *
 * @example
 * ```ts
 * import { ResponseEncoderStream } from 'subprocess-transform/wire';
 * const responses = ReadableStream.from([new Response('a'), new Response(null, { status: 204 })]);
 * const bytes = await new Response(responses.pipeThrough(new ResponseEncoderStream())).text();
 * // 'HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 1\r\n\r\na'
 * // + 'HTTP/1.1 204 No Content\r\n\r\n'
 * ```
 */
export class ResponseEncoderStream implements ReadableWritablePair<Uint8Array, Response> {
  /** HTTP/1.1 bytes, one chunk per batch. */
  readonly readable: ReadableStream<Uint8Array>;
  /** The Responses to encode, in order; each body is consumed. */
  readonly writable: WritableStream<Response>;
  readonly #init: SerializeInit;
  #state: State = 'open';
  #encoder: ResponseEncoder | undefined;
  #readableController!: ReadableStreamDefaultController<Uint8Array>;
  #writableController: WritableStreamDefaultController | undefined;
  /** Settles the read waiting for bytes, if any. */
  #resolvePull: (() => void) | undefined;
  #wakeWriter: (() => void) | undefined;

  /**
   * @param init `fields` written after each response's own, and `maxBufferedBody`, as for
   *   {@link serializeResponse}.
   */
  constructor(init?: SerializeInit) {
    this.#init = resolveSerializeInit(init);
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#readableController = controller;
        },
        pull: () =>
          new Promise<void>((resolve) => {
            this.#resolvePull = resolve;
            this.#resumeWriter();
          }),
        cancel: (reason) => this.#cancel(reason),
      },
      { highWaterMark: 0 },
    );
    this.writable = new WritableStream<Response>({
      start: (controller) => {
        this.#writableController = controller;
        // An abort waits for the write under way: a write waiting for a reader must stop at once.
        controller.signal?.addEventListener('abort', () => {
          this.#encoder?.cancel(controller.signal.reason);
          this.#resumeWriter();
        });
      },
      write: (response) => this.#write(response),
      close: () => this.#close(),
      abort: (reason) => this.#fail(reason),
    });
  }

  async #write(response: Response): Promise<void> {
    if (!(response instanceof Response)) {
      const error = new TypeError(`Expected the encoder's input to be Responses, got ${typeof response}`);
      this.#fail(error);
      throw error;
    }
    const encoder = encodeResponse(response, this.#init);
    this.#encoder = encoder;
    try {
      for (;;) {
        while (this.#isOpen() && this.#resolvePull === undefined)
          await new Promise<void>((resolve) => {
            this.#wakeWriter = resolve;
          });
        if (!this.#isOpen()) break;
        const { done, value } = await encoder.next();
        if (done || !this.#isOpen()) break;
        this.#readableController.enqueue(concatBytes(value));
        this.#settlePull();
      }
    } catch (error) {
      this.#fail(error);
      throw error;
    } finally {
      encoder.cancel();
      this.#encoder = undefined;
    }
  }

  #isOpen(): boolean {
    return this.#state === 'open' && this.#writableController?.signal?.aborted !== true;
  }

  #close(): void {
    this.#state = 'closed';
    this.#readableController.close();
    this.#settlePull();
  }

  #fail(error: unknown): void {
    if (this.#state !== 'open') return;
    this.#state = 'failed';
    this.#encoder?.cancel(error);
    this.#readableController.error(error);
    this.#settlePull();
    this.#resumeWriter();
  }

  #cancel(reason: unknown): void {
    if (this.#state !== 'open') return;
    this.#state = 'failed';
    this.#encoder?.cancel(reason);
    this.#writableController?.error(reason);
    this.#resumeWriter();
  }

  #settlePull(): void {
    const resolve = this.#resolvePull;
    this.#resolvePull = undefined;
    resolve?.();
  }

  #resumeWriter(): void {
    const wake = this.#wakeWriter;
    this.#wakeWriter = undefined;
    wake?.();
  }
}
