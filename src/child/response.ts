import type { BodyChannel } from '../wire/body.ts';
import type { ResponseHead } from '../wire/parser.ts';
import { concatBytes } from '../wire/serialize.ts';

/** UTF-8 decode as the Fetch standard's text() does: a leading BOM dropped, bad bytes replaced. */
const utf8 = new TextDecoder();

/** A stream read to its end and still locked by its reader, as the body of a Response read whole is. */
function createUsedStream(): ReadableStream<Uint8Array<ArrayBuffer>> {
  const stream = new ReadableStream<Uint8Array<ArrayBuffer>>({ start: (controller) => controller.close() });
  // A read marks the stream disturbed at once; on a closed stream it settles without waiting.
  void stream.getReader().read();
  return stream;
}

/**
 * The Response a transform is given for a message with a body: its body stream is made on first use. A
 * ReadableStream costs more than all the rest of a small message (Node 20 makes each one transferable), and
 * a transform that answers with the response it was given, body untouched, needs none: the child writes the
 * bytes as they came. text(), json(), arrayBuffer() and bytes() of a body that has ended, nothing having asked
 * for it, join its chunks; otherwise every body member goes through one inner Response around the stream,
 * made on first use, so the body behaves as any Response's does. Its headers are the parsed head's Headers
 * object itself, not a copy.
 */
export class MessageResponse extends Response {
  readonly #channel: BodyChannel;
  /** The head's own Headers, handed out as they are: a Response given headers copies them, field by field. */
  readonly #headers: Headers;
  #inner: Response | undefined;
  /** The body was read whole from the bytes that came, without a stream: it is used up. */
  #taken = false;
  /** What {@link body} gives once the body was taken: a stream already read to its end. */
  #usedStream: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;

  constructor(head: ResponseHead, channel: BodyChannel) {
    super(null, { status: head.status, statusText: head.statusText });
    this.#channel = channel;
    this.#headers = head.headers;
  }

  /** Whether anything asked for the body: if not, its bytes are still the ones that came. */
  get bodyTouched(): boolean {
    return this.#inner !== undefined || this.#taken;
  }

  #getInner(): Response {
    // Once taken, a Response around the used stream throws the TypeError any used body gives.
    this.#inner ??= new Response(this.#taken ? this.body : this.#channel.stream);
    return this.#inner;
  }

  /** The whole body in one buffer, without a stream, when it came whole and nothing asked for it yet. */
  #take(): Uint8Array<ArrayBuffer> | undefined {
    const chunks = this.#inner === undefined && !this.#taken ? this.#channel.chunks : undefined;
    if (chunks === undefined) return undefined;
    this.#taken = true;
    // Always a copy (`new Uint8Array`: a Buffer's slice() is a view): a chunk is a view into a larger read
    // buffer, and arrayBuffer() hands out the whole buffer.
    const [only] = chunks;
    return (
      chunks.length === 1 && only !== undefined ? new Uint8Array(only) : concatBytes(chunks)
    ) as Uint8Array<ArrayBuffer>;
  }

  override get headers(): Headers {
    return this.#headers;
  }

  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    if (this.#taken) {
      this.#usedStream ??= createUsedStream();
      return this.#usedStream;
    }
    return this.#getInner().body;
  }

  override get bodyUsed(): boolean {
    return this.#taken || (this.#inner?.bodyUsed ?? false);
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    return this.#take()?.buffer ?? this.#getInner().arrayBuffer();
  }

  override async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return this.#take() ?? new Uint8Array(await this.#getInner().arrayBuffer());
  }

  override async text(): Promise<string> {
    const bytes = this.#take();
    return bytes === undefined ? this.#getInner().text() : utf8.decode(bytes);
  }

  override async json(): Promise<unknown> {
    const bytes = this.#take();
    return bytes === undefined ? this.#getInner().json() : JSON.parse(utf8.decode(bytes));
  }

  // The media type comes from the headers as they are now, perhaps changed by the transform.
  override async blob(): Promise<Blob> {
    return new Response(this.body, { headers: this.headers }).blob();
  }

  override async formData(): Promise<FormData> {
    return new Response(this.body, { headers: this.headers }).formData();
  }

  override clone(): Response {
    // The inner clone tees the stream: this response keeps one branch, the copy gets the other.
    const copy = this.#getInner().clone();
    return new Response(copy.body, {
      status: this.status,
      statusText: this.statusText,
      headers: this.headers,
    });
  }
}
