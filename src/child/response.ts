import type { BodyChannel } from '../wire/body.ts';
import type { ResponseHead } from '../wire/parser.ts';

/**
 * The Response a transform is given for a message with a body: its body stream is made on first use. A
 * ReadableStream costs more than all the rest of a small message (Node 20 makes each one transferable), and
 * a transform that answers with the response it was given, body untouched, needs none: the child writes the
 * bytes as they came. Every body member goes through one inner Response around the stream, made on first
 * use, so the body behaves as any Response's does.
 */
export class MessageResponse extends Response {
  readonly #channel: BodyChannel;
  #inner: Response | undefined;

  constructor(head: ResponseHead, channel: BodyChannel) {
    super(null, { status: head.status, statusText: head.statusText, headers: head.headers });
    this.#channel = channel;
  }

  /** Whether anything asked for the body: if not, its bytes are still the ones that came. */
  get bodyTouched(): boolean {
    return this.#inner !== undefined;
  }

  #getInner(): Response {
    this.#inner ??= new Response(this.#channel.stream);
    return this.#inner;
  }

  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    return this.#getInner().body;
  }

  override get bodyUsed(): boolean {
    return this.#inner?.bodyUsed ?? false;
  }

  override arrayBuffer(): Promise<ArrayBuffer> {
    return this.#getInner().arrayBuffer();
  }

  override async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return new Uint8Array(await this.#getInner().arrayBuffer());
  }

  override text(): Promise<string> {
    return this.#getInner().text();
  }

  override json(): Promise<unknown> {
    return this.#getInner().json();
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
