import type { ResponseHead } from './parser.ts';
import { isNullBodyStatus } from './syntax.ts';

/** Where a {@link BodyChannel}'s bytes come from; `body` tells which, so one source can feed many. */
export interface BodySource {
  /** The reader wants more: resume the source if it was paused. */
  resume(body: BodyChannel): void;
  /** The reader cancelled the body. */
  cancel(reason: unknown, body: BodyChannel): void;
}

/** Bytes queued per body before the source is paused, unless the channel is given its own bound. */
const HIGH_WATER_MARK = 64 * 1024;

const byteLength = (chunk: Uint8Array): number => chunk.byteLength;

type ChannelState = 'open' | 'closed' | 'cancelled' | 'errored';

/**
 * The stream side of a {@link BodyChannel}: its underlying source and the state both sides share. Methods,
 * not closures, as a channel is made per message.
 */
class ChannelStream implements UnderlyingDefaultSource<Uint8Array> {
  state: ChannelState = 'open';
  controller!: ReadableStreamDefaultController<Uint8Array>;
  readonly #channel: BodyChannel;
  readonly #source: BodySource;

  constructor(channel: BodyChannel, source: BodySource) {
    this.#channel = channel;
    this.#source = source;
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.controller = controller;
  }

  pull(): void {
    this.#source.resume(this.#channel);
  }

  cancel(reason: unknown): void {
    if (this.state !== 'open') return;
    this.state = 'cancelled';
    this.#source.cancel(reason, this.#channel);
  }
}

/**
 * The body of a response being parsed: a ReadableStream fed by pushes, with backpressure. `push` reports
 * whether the reader wants more, so the feeder pauses its source instead of queueing without bound. The stream
 * is made on first use of {@link stream}: until then pushed chunks wait in a list, with the same bound.
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
  readonly #side: ChannelStream;
  #stream: ReadableStream<Uint8Array> | undefined;
  /** The chunks pushed before the stream was made; handed to it when it is, or dropped on failure. */
  #chunks: Uint8Array[] | undefined = [];
  #bytes = 0;
  /** Why the body failed or was discarded before its stream was made. */
  #reason: unknown;
  readonly #highWaterMark: number;

  /** @param highWaterMark Bytes queued before {@link push} asks the source to pause (64 KiB by default). */
  constructor(source: BodySource, highWaterMark = HIGH_WATER_MARK) {
    this.#side = new ChannelStream(this, source);
    this.#highWaterMark = highWaterMark;
  }

  /** The body's stream, made on first use with every chunk pushed so far. */
  get stream(): ReadableStream<Uint8Array> {
    if (this.#stream !== undefined) return this.#stream;
    const side = this.#side;
    this.#stream = new ReadableStream(side, { highWaterMark: this.#highWaterMark, size: byteLength });
    switch (side.state) {
      case 'cancelled':
      case 'errored':
        side.controller.error(this.#reason);
        break;
      default:
        for (const chunk of this.#chunks ?? []) side.controller.enqueue(chunk);
        if (side.state === 'closed') side.controller.close();
    }
    this.#chunks = undefined;
    return this.#stream;
  }

  /**
   * The whole body, when it has ended and nobody asked for {@link stream}: the bytes a reader would get, for
   * a writer to send as they are.
   */
  get chunks(): readonly Uint8Array[] | undefined {
    return this.#side.state === 'closed' ? this.#chunks : undefined;
  }

  /** Open: neither ended, failed nor cancelled. */
  get open(): boolean {
    return this.#side.state === 'open';
  }

  /** Whether the source may go on: the reader has room, or nobody reads any more. */
  get wantsMore(): boolean {
    if (this.#side.state !== 'open') return true;
    if (this.#stream === undefined) return this.#bytes < this.#highWaterMark;
    return (this.#side.controller.desiredSize ?? 0) > 0;
  }

  /** Queue a chunk (dropped once the body is not open); returns {@link wantsMore}. */
  push(chunk: Uint8Array): boolean {
    if (this.#side.state !== 'open') return true;
    this.#bytes += chunk.byteLength;
    if (this.#stream === undefined) {
      this.#chunks?.push(chunk);
      return this.#bytes < this.#highWaterMark;
    }
    this.#side.controller.enqueue(chunk);
    return (this.#side.controller.desiredSize ?? 0) > 0;
  }

  close(): void {
    if (this.#side.state !== 'open') return;
    this.#side.state = 'closed';
    if (this.#stream !== undefined) this.#side.controller.close();
  }

  /**
   * Stop delivering: later bytes are dropped and a reader still holding the stream gets `reason`. For a body
   * nobody will finish reading, so its source can be drained.
   */
  discard(reason: unknown): void {
    this.#fail('cancelled', reason);
  }

  /** Fail the body: a reader sees `reason`, never a clean end that looks complete. */
  error(reason: unknown): void {
    this.#fail('errored', reason);
  }

  #fail(state: 'cancelled' | 'errored', reason: unknown): void {
    if (this.#side.state !== 'open') return;
    this.#side.state = state;
    this.#chunks = undefined;
    if (this.#stream === undefined) this.#reason = reason;
    else this.#side.controller.error(reason);
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
