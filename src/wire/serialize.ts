import { readAvailable, toBodyChunk } from './available.ts';
import { getConnectionTokens, isHopByHop, TRANSFORM_PREFIX, toCanonicalName } from './fields.ts';
import { encodeLatin1, getReasonPhrase, isNullBodyStatus } from './syntax.ts';

/** Options of {@link serializeResponse} and {@link encodeResponse}. */
export interface SerializeInit {
  /**
   * Fields written after the response's own, such as `Transform-Request-Url`; names are sent as given. A
   * `Transform-*` field of the response's own with the name of one of them is left out: it would go out twice.
   */
  fields?: Iterable<readonly [name: string, value: string]>;
  /**
   * Largest body that is read ahead, when it is already complete, to be sent with `Content-Length` in the
   * same write as the head. A body still streaming, or a larger one, goes out chunked.
   * @default 1048576
   */
  maxBufferedBody?: number;
  /**
   * Leave out the response's own `Transform-*` fields, so that only `fields` carry request context and ids:
   * what a parent writing to a transform needs, so a handler can never spoof them.
   * @default false
   */
  omitTransformFields?: boolean;
}

const DEFAULT_MAX_BUFFERED_BODY = 1024 * 1024;

/**
 * Validate `init` once for an encoder of many responses: `fields` is read into a list (an iterator would be
 * used up by the first response), `maxBufferedBody` must be a non-negative integer or Infinity.
 */
export function resolveSerializeInit(init: SerializeInit | undefined): SerializeInit {
  if (init === undefined) return {};
  if (typeof init !== 'object' || init === null) {
    throw new TypeError(`Expected the options to be an object, got ${init === null ? 'null' : typeof init}`);
  }
  const { fields, maxBufferedBody, omitTransformFields } = init;
  if (maxBufferedBody !== undefined) {
    if (typeof maxBufferedBody !== 'number' || Number.isNaN(maxBufferedBody)) {
      throw new TypeError(`Expected \`maxBufferedBody\` to be a number, got ${String(maxBufferedBody)}`);
    }
    if (
      maxBufferedBody < 0 ||
      (maxBufferedBody !== Number.POSITIVE_INFINITY && !Number.isInteger(maxBufferedBody))
    ) {
      throw new RangeError(
        `Expected \`maxBufferedBody\` to be a non-negative integer, got ${maxBufferedBody}`,
      );
    }
  }
  return {
    fields: fields === undefined ? undefined : [...fields].map(([name, value]) => [name, value] as const),
    maxBufferedBody,
    omitTransformFields,
  };
}
const CRLF = Uint8Array.of(0x0d, 0x0a);
const LAST_CHUNK = Uint8Array.of(0x30, 0x0d, 0x0a, 0x0d, 0x0a);
const chunkHeaders = new Map<number, Uint8Array>();

/** `1a2b\r\n`; cached because stream chunk sizes repeat (a pipe hands out 64 KiB again and again). */
function getChunkHeader(size: number): Uint8Array {
  let header = chunkHeaders.get(size);
  if (header === undefined) {
    const text = `${size.toString(16)}\r\n`;
    header = encodeLatin1Text(text);
    if (chunkHeaders.size < 256) chunkHeaders.set(size, header);
  }
  return header;
}

function encodeLatin1Text(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(text.length);
  encodeLatin1(text, bytes, 0);
  return bytes;
}

type Framing = { contentLength: number } | { chunked: true } | null;

/** The status line and fields of `response`, with the framing this codec chose (RFC 9112 sections 4, 5, 6). */
function encodeHead(
  response: Response,
  framing: Framing,
  extraFields: readonly (readonly [string, string])[] = [],
  omitTransformFields = false,
): Uint8Array<ArrayBuffer> {
  return encodeLatin1Text(formatHead(response, framing, extraFields, omitTransformFields));
}

/** Whether `fields` has a field named `name` (lower-case), whatever the case it is written in. */
function isNamedIn(name: string, fields: readonly (readonly [string, string])[]): boolean {
  for (const [field] of fields) if (field.toLowerCase() === name) return true;
  return false;
}

/**
 * {@link encodeHead} as text, every character one byte (Latin-1): for a writer that encodes it straight into
 * a buffer of its own. `extraFields` is a list, not any iterable: it is read once per `Transform-*` field of
 * the response's own and again to write it, which an iterator would not survive.
 */
export function formatHead(
  response: Response,
  framing: Framing,
  extraFields: readonly (readonly [string, string])[] = [],
  omitTransformFields = false,
): string {
  const reason = response.statusText || getReasonPhrase(response.status);
  let head = `HTTP/1.1 ${response.status} ${reason}\r\n`;
  const dropped = getConnectionTokens(response.headers.get('connection'));
  for (const [name, value] of response.headers) {
    if (isHopByHop(name) || dropped.includes(name)) continue;
    // A protocol field of the response's own that an extra field writes too would go out twice.
    if (name.startsWith(TRANSFORM_PREFIX) && (omitTransformFields || isNamedIn(name, extraFields))) continue;
    head += `${toCanonicalName(name)}: ${value}\r\n`;
  }
  for (const [name, value] of extraFields) head += `${name}: ${value}\r\n`;
  if (framing !== null) {
    head +=
      'contentLength' in framing
        ? `Content-Length: ${framing.contentLength}\r\n`
        : 'Transfer-Encoding: chunked\r\n';
  }
  return `${head}\r\n`;
}

type EncoderState =
  /** Nothing read yet. */
  | 'start'
  /** The head is out; the body's chunks follow, each with its chunked framing. */
  | 'chunked'
  /** The whole message is out. */
  | 'done'
  /** Cancelled: the body was cancelled and the message is cut short (no last-chunk). */
  | 'cancelled';

/**
 * Encodes one response as HTTP/1.1 in batches of byte views: each batch is meant to be written at once
 * (one `writev`), so the head and a small body, or a chunk and its framing, cost one system call and no copy.
 * A body that is complete without waiting (up to `maxBufferedBody`) goes with `Content-Length` in the first
 * batch; otherwise the body is chunked. `cancel()` (or `return()`) cancels the body at once, even while a
 * `next()` waits on it, which then ends. One `next()` at a time.
 *
 * @example
 * ```ts
 * for await (const batch of new ResponseEncoder(new Response('hi'))) console.log(batch.length); // 2: head, body
 * ```
 */
export class ResponseEncoder implements AsyncIterableIterator<Uint8Array[], void, undefined> {
  readonly #response: Response;
  readonly #init: SerializeInit;
  #state: EncoderState = 'start';
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;

  constructor(response: Response, init: SerializeInit = {}) {
    this.#response = response;
    this.#init = init;
  }

  /** The next batch, or done once the message is complete or cancelled. */
  async next(): Promise<IteratorResult<Uint8Array[], void>> {
    try {
      const batch = this.#state === 'start' ? await this.#start() : await this.#nextChunk();
      return batch === undefined ? { done: true, value: undefined } : { done: false, value: batch };
    } catch (error) {
      this.cancel(error);
      throw error;
    }
  }

  /** Whether the whole message has been handed out: no batch follows. */
  get done(): boolean {
    return this.#state === 'done';
  }

  /** Stop: cancel the body (a read under way ends) and write nothing more. */
  cancel(reason?: unknown): void {
    const state = this.#state;
    if (state === 'done' || state === 'cancelled') return;
    this.#state = 'cancelled';
    const target = this.#reader ?? this.#response.body;
    target?.cancel(reason).catch(() => {});
    this.#release();
  }

  async return(): Promise<IteratorResult<Uint8Array[], void>> {
    this.cancel();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async #start(): Promise<Uint8Array[] | undefined> {
    const response = this.#response;
    // Read more than once per head (see formatHead): an iterator given to the constructor becomes a list.
    const given = this.#init.fields ?? [];
    const fields = Array.isArray(given) ? given : [...given];
    const omit = this.#init.omitTransformFields === true;
    const { status, body } = response;
    if (isNullBodyStatus(status) || body === null) {
      this.#state = 'done';
      if (body !== null) await body.cancel();
      const framing = status === 204 || status === 304 ? null : { contentLength: 0 };
      return [encodeHead(response, framing, fields, omit)];
    }
    const reader = body.getReader();
    this.#reader = reader;
    const ahead = await readAvailable(reader, this.#init.maxBufferedBody ?? DEFAULT_MAX_BUFFERED_BODY);
    if (this.#state === 'cancelled') return undefined;
    if (ahead.done) {
      // Read to its end, the body stays locked, as one read by text() does: see #nextChunk.
      this.#state = 'done';
      return [encodeHead(response, { contentLength: ahead.bytes }, fields, omit), ...ahead.chunks];
    }
    this.#state = 'chunked';
    this.#pending = ahead.pending;
    const first: Uint8Array[] = [encodeHead(response, { chunked: true }, fields, omit)];
    for (const chunk of ahead.chunks) first.push(getChunkHeader(chunk.byteLength), chunk, CRLF);
    return first;
  }

  async #nextChunk(): Promise<Uint8Array[] | undefined> {
    const reader = this.#reader;
    while (this.#state === 'chunked' && reader !== undefined) {
      const read = this.#pending ?? reader.read();
      this.#pending = undefined;
      const { done, value } = await read;
      // A body cancelled meanwhile ends too, but the message is cut short: no last-chunk.
      if (this.#state !== 'chunked') return undefined;
      if (done) {
        // Not released: the stream has ended, and releasing a reader makes a TypeError to reject its
        // `closed` promise with (the Streams standard), a stack trace captured per message for nothing.
        this.#state = 'done';
        return [LAST_CHUNK];
      }
      const chunk = toBodyChunk(value);
      // A zero-size chunk would end the body early (RFC 9112 section 7.1).
      if (chunk.byteLength > 0) return [getChunkHeader(chunk.byteLength), chunk, CRLF];
    }
    return undefined;
  }

  #release(): void {
    try {
      this.#reader?.releaseLock();
    } catch {
      // A read still under way keeps the lock until it settles; the stream is cancelled or done anyway.
    }
  }
}

/**
 * Encode a response as HTTP/1.1 in batches of byte views (see {@link ResponseEncoder}).
 *
 * @param response The response to encode; its body is read once.
 * @param init Extra fields and the read-ahead bound.
 * @returns An iterator of batches; `return()` cancels the body at once.
 * @example
 * ```ts
 * for await (const batch of encodeResponse(new Response('hi'))) console.log(batch.length); // 2: head, body
 * ```
 */
export function encodeResponse(response: Response, init: SerializeInit = {}): ResponseEncoder {
  return new ResponseEncoder(response, init);
}

/**
 * Serialise a Response to HTTP/1.1 bytes: the status line, its fields (hop-by-hop and framing fields
 * removed, each Set-Cookie on its own line), `init.fields`, then the body with `Content-Length` when it is
 * complete without waiting, chunked otherwise. Pure Web Streams: runs on Node, Bun, Deno and Workers.
 *
 * @param response The response to serialise; its body is consumed.
 * @param init Extra fields and the read-ahead bound.
 * @returns A stream of HTTP/1.1 bytes; each chunk is one coalesced write.
 * @example
 * ```ts
 * import { serializeResponse } from 'subprocess-transform/wire';
 * const bytes = await new Response(serializeResponse(new Response('hi'))).text();
 * // 'HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 2\r\n\r\nhi'
 * ```
 */
export function serializeResponse(response: Response, init?: SerializeInit): ReadableStream<Uint8Array> {
  const batches = encodeResponse(response, init);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await batches.next();
      if (done) controller.close();
      else controller.enqueue(concatBytes(value));
    },
    cancel(reason) {
      batches.cancel(reason);
    },
  });
}

/** One buffer of several views; a Web stream consumer cannot writev, so small pieces are joined once. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  let size = 0;
  for (const part of parts) size += part.byteLength;
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return joined;
}
