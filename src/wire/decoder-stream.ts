import { BodyChannel, createResponse, hasBody } from './body.ts';
import { type ParserOptions, ResponseParser } from './parser.ts';

interface Message {
  response: Response;
  body: BodyChannel | undefined;
}

type State =
  /** Taking bytes. */
  | 'open'
  /** The input ended after a complete message: waiting Responses are handed out, then the readable closes. */
  | 'ended'
  /** Malformed or incomplete input, or an aborted writer: complete messages go out, then the readable errors. */
  | 'failed'
  /** The reader cancelled: nothing more is handed out and the writable is errored. */
  | 'cancelled';

/**
 * Decodes HTTP/1.1 response bytes into Responses, like `TextDecoderStream` decodes text: a readable/writable
 * pair for `pipeThrough`. Strict (RFC 9112) and bounded by `limits`, with the parser of {@link parseResponses}.
 *
 * Each Response is handed out as soon as its head is parsed; its body streams with backpressure, so the input
 * is read only as fast as the current body is (at most 64 KiB and one input chunk are queued in it). Read or
 * cancel each body before waiting on the next Response, whose head comes after it on the wire: a body that is
 * neither holds the decoder once its queue is full. A cancelled body is drained (its remaining bytes are
 * read and dropped, so the next message parses as usual), and a body that arrived whole needs no reading.
 *
 * Malformed input, a limit exceeded, an aborted writer or input that ends in the middle of a message errors
 * the stream: the Responses of the complete messages before it are still handed out, the message at fault
 * gets no Response if its Response was not taken yet, else its body errors (it never ends cleanly), and the
 * readable then errors with the same {@link WireError}. Cancelling the readable errors the writable and the
 * body being received.
 *
 * It is a readable/writable pair rather than a `TransformStream` subclass (as `TextDecoderStream` and
 * `DecompressionStream` are) because a transformer cannot see its readable being read, and the decoder must
 * hold complete messages back from an error until they are taken.
 *
 * @example
 * ```ts
 * import { ResponseDecoderStream, serializeResponse } from 'subprocess-transform/wire';
 * const responses = serializeResponse(new Response('hi')).pipeThrough(new ResponseDecoderStream());
 * for await (const response of responses) console.log(response.status, await response.text()); // 200 'hi'
 * ```
 */
export class ResponseDecoderStream implements ReadableWritablePair<Response, Uint8Array> {
  /** The decoded Responses, in order. */
  readonly readable: ReadableStream<Response>;
  /** HTTP/1.1 response bytes, such as a transform's stdout. */
  readonly writable: WritableStream<Uint8Array>;
  readonly #parser: ResponseParser;
  /** Responses whose head is parsed, not yet taken by the reader. */
  readonly #ready: Message[] = [];
  /** The message being parsed, from its head to its end. */
  #current: Message | undefined;
  #state: State = 'open';
  #failure: unknown;
  #writableController: WritableStreamDefaultController | undefined;
  #wakeWriter: (() => void) | undefined;
  #wakeReader: (() => void) | undefined;

  /**
   * @param options `limits` on heads and bodies, as for {@link parseResponses}.
   */
  constructor(options?: ParserOptions) {
    const source = { resume: () => this.#resumeWriter(), cancel: () => this.#resumeWriter() };
    this.#parser = new ResponseParser(
      {
        onHead: (head) => {
          const body = hasBody(head) ? new BodyChannel(source) : undefined;
          this.#current = { response: createResponse(head, body?.stream ?? null), body };
          this.#ready.push(this.#current);
        },
        onBody: (chunk) => {
          this.#current?.body?.push(chunk);
        },
        onMessageEnd: () => {
          this.#current?.body?.close();
          this.#current = undefined;
        },
      },
      options,
    );
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writableController = controller;
        // An abort waits for the write under way: a write waiting for a reader must stop at once.
        controller.signal?.addEventListener('abort', () => this.#resumeWriter());
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.#end(),
      abort: (reason) => this.#fail(reason),
    });
    this.readable = new ReadableStream<Response>(
      {
        pull: (controller) => this.#pull(controller),
        cancel: (reason) => this.#cancel(reason),
      },
      { highWaterMark: 0 },
    );
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'open') throw this.#failure;
    if (!(chunk instanceof Uint8Array)) {
      const error = new TypeError(
        `Expected the decoder's input to be Uint8Array chunks, got ${typeof chunk}`,
      );
      this.#fail(error);
      throw error;
    }
    try {
      this.#parser.push(chunk);
    } catch (error) {
      this.#fail(error);
      throw error;
    }
    this.#resumeReader();
    while (this.#mustWait())
      await new Promise<void>((resolve) => {
        this.#wakeWriter = resolve;
      });
  }

  /** Pause the input while a Response waits to be taken, or while the body being filled has no room. */
  #mustWait(): boolean {
    if (this.#state !== 'open' || this.#writableController?.signal?.aborted === true) return false;
    const body = this.#current?.body;
    return this.#ready.length > 0 || (body !== undefined && !body.wantsMore);
  }

  #end(): void {
    try {
      this.#parser.end();
    } catch (error) {
      this.#fail(error);
      throw error;
    }
    this.#state = 'ended';
    this.#resumeReader();
  }

  async #pull(controller: ReadableStreamDefaultController<Response>): Promise<void> {
    while (this.#ready.length === 0 && this.#state === 'open')
      await new Promise<void>((resolve) => {
        this.#wakeReader = resolve;
      });
    const next = this.#ready.shift();
    if (next !== undefined) {
      controller.enqueue(next.response);
      this.#resumeWriter();
    } else if (this.#state === 'failed') controller.error(this.#failure);
    else if (this.#state === 'ended') controller.close();
  }

  #fail(error: unknown): void {
    if (this.#state !== 'open') return;
    this.#state = 'failed';
    this.#failure = error;
    const current = this.#current;
    this.#current = undefined;
    // The message at fault is incomplete: withhold it if it was not taken yet, else fail its body.
    if (current !== undefined && this.#ready.at(-1) === current) this.#ready.pop();
    else current?.body?.error(error);
    this.#resumeReader();
    this.#resumeWriter();
  }

  #cancel(reason: unknown): void {
    this.#ready.length = 0;
    if (this.#state !== 'open') return;
    this.#state = 'cancelled';
    this.#failure = reason;
    this.#current?.body?.error(
      new TypeError('Body cancelled: the decoder was cancelled before the body was complete', {
        cause: reason,
      }),
    );
    this.#current = undefined;
    this.#writableController?.error(reason);
    this.#resumeWriter();
  }

  #resumeWriter(): void {
    const wake = this.#wakeWriter;
    this.#wakeWriter = undefined;
    wake?.();
  }

  #resumeReader(): void {
    const wake = this.#wakeReader;
    this.#wakeReader = undefined;
    wake?.();
  }
}
