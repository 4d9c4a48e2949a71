import type { ResponseHead } from './parser.ts';
import { isNullBodyStatus } from './syntax.ts';

/** Where a {@link BodyChannel}'s bytes come from. */
export interface BodySource {
  /** The reader wants more: resume the source if it was paused. */
  resume(): void;
  /** The reader cancelled the body. */
  cancel(reason: unknown): void;
}

/** Bytes queued per body before the source is paused. */
const HIGH_WATER_MARK = 64 * 1024;

/**
 * The body of a response being parsed: a ReadableStream fed by pushes, with backpressure. `push` reports
 * whether the reader wants more, so the feeder pauses its source instead of queueing without bound.
 *
 * @example
 * ```ts
 * const body = new BodyChannel({ resume: () => socket.resume(), cancel: () => socket.destroy() });
 * socket.on('data', (chunk) => body.push(chunk) || socket.pause());
 * socket.on('end', () => body.close());
 * return new Response(body.stream);
 * ```
 */
export class BodyChannel {
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #state: 'open' | 'closed' | 'cancelled' | 'errored' = 'open';
  /** The chunks pushed, while they fit in the queue; undefined once they did not. */
  #chunks: Uint8Array[] | undefined = [];
  #bytes = 0;

  constructor(source: BodySource) {
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => source.resume(),
        cancel: (reason) => {
          if (this.#state !== 'open') return;
          this.#state = 'cancelled';
          source.cancel(reason);
        },
      },
      { highWaterMark: HIGH_WATER_MARK, size: (chunk) => chunk.byteLength },
    );
  }

  /**
   * The whole body as pushed, when it ended within the queue's size: if nobody has read, locked or cancelled
   * {@link stream} (check `Response.bodyUsed` and `stream.locked`), these are exactly the bytes it would yield.
   */
  get chunks(): readonly Uint8Array[] | undefined {
    return this.#state === 'closed' ? this.#chunks : undefined;
  }

  /** Open: neither ended, failed nor cancelled. */
  get open(): boolean {
    return this.#state === 'open';
  }

  /** Whether the source may go on: the reader has room, or nobody reads any more. */
  get wantsMore(): boolean {
    return this.#state !== 'open' || (this.#controller.desiredSize ?? 0) > 0;
  }

  /** Queue a chunk (dropped once the body is not open); returns {@link wantsMore}. */
  push(chunk: Uint8Array): boolean {
    if (this.#state !== 'open') return true;
    this.#controller.enqueue(chunk);
    if (this.#chunks !== undefined) {
      this.#bytes += chunk.byteLength;
      // Past the queue's size the stream is being read, or input pauses: no longer a body that came whole.
      if (this.#bytes <= HIGH_WATER_MARK) this.#chunks.push(chunk);
      else this.#chunks = undefined;
    }
    return (this.#controller.desiredSize ?? 0) > 0;
  }

  close(): void {
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    this.#controller.close();
  }

  /**
   * Stop delivering: later bytes are dropped and a reader still holding the stream gets `reason`. For a body
   * nobody will finish reading, so its source can be drained.
   */
  discard(reason: unknown): void {
    if (this.#state !== 'open') return;
    this.#state = 'cancelled';
    this.#controller.error(reason);
  }

  /** Fail the body: a reader sees `reason`, never a clean end that looks complete. */
  error(reason: unknown): void {
    if (this.#state !== 'open') return;
    this.#state = 'errored';
    this.#controller.error(reason);
  }
}

/** Whether a parsed head is followed by body bytes. */
export function hasBody(head: ResponseHead): boolean {
  return head.framing.kind !== 'none' && !isNullBodyStatus(head.status);
}

/** A Response for a parsed head; `body` must be null when {@link hasBody} is false. */
export function createResponse(
  head: ResponseHead,
  body: ReadableStream<Uint8Array> | Uint8Array | null,
): Response {
  return new Response(body as BodyInit | null, {
    status: head.status,
    statusText: head.statusText,
    headers: head.headers,
  });
}
