import { readAvailable, toBodyChunk } from './available.ts';
import { getConnectionTokens, isHopByHop, toCanonicalName } from './fields.ts';
import { encodeLatin1, getReasonPhrase, isNullBodyStatus } from './syntax.ts';

/** Options of {@link serializeResponse} and {@link encodeResponse}. */
export interface SerializeInit {
  /** Fields written after the response's own, such as `Transform-Request-Url`; names are sent as given. */
  fields?: Iterable<readonly [name: string, value: string]>;
  /**
   * Largest body that is read ahead, when it is already complete, to be sent with `Content-Length` in the
   * same write as the head. A body still streaming, or a larger one, goes out chunked.
   * @default 1048576
   */
  maxBufferedBody?: number;
}

const DEFAULT_MAX_BUFFERED_BODY = 1024 * 1024;
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
export function encodeHead(
  response: Response,
  framing: Framing,
  extraFields: Iterable<readonly [string, string]> = [],
): Uint8Array<ArrayBuffer> {
  const reason = response.statusText || getReasonPhrase(response.status);
  let head = `HTTP/1.1 ${response.status} ${reason}\r\n`;
  const dropped = getConnectionTokens(response.headers.get('connection'));
  for (const [name, value] of response.headers) {
    if (isHopByHop(name) || dropped.includes(name)) continue;
    head += `${toCanonicalName(name)}: ${value}\r\n`;
  }
  for (const [name, value] of extraFields) head += `${name}: ${value}\r\n`;
  if (framing !== null) {
    head +=
      'contentLength' in framing
        ? `Content-Length: ${framing.contentLength}\r\n`
        : 'Transfer-Encoding: chunked\r\n';
  }
  return encodeLatin1Text(`${head}\r\n`);
}

/**
 * Encode a response as HTTP/1.1 in batches of byte views: each batch is meant to be written at once
 * (one `writev`), so the head and a small body, or a chunk and its framing, cost one system call and no copy.
 * A body that is complete without waiting (up to `maxBufferedBody`) goes with `Content-Length` in the first
 * batch; otherwise the body is chunked. Returning early cancels the response body.
 *
 * @param response The response to encode; its body is read once.
 * @param init Extra fields and the read-ahead bound.
 * @returns Batches of views into the head and the body's own chunks.
 * @example
 * ```ts
 * for await (const batch of encodeResponse(new Response('hi'))) console.log(batch.length); // 2: head, body
 * ```
 */
export function encodeResponse(
  response: Response,
  init: SerializeInit = {},
): AsyncGenerator<Uint8Array[], void, undefined> {
  const cancel: BodyCancel = { reader: undefined, cancelled: false };
  const batches = encodeBatches(response, init, cancel);
  const finish = batches.return.bind(batches);
  // An async generator runs return() only after the next() under way: were it waiting on a body that never
  // yields again, the body would never be cancelled and return() never settle. Cancel the body first.
  batches.return = (value) => {
    cancel.cancelled = true;
    (cancel.reader ?? response.body)?.cancel().catch(() => {});
    return finish(value);
  };
  return batches;
}

/** The body reader of an {@link encodeResponse}, for its return() to cancel. */
interface BodyCancel {
  reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  cancelled: boolean;
}

async function* encodeBatches(
  response: Response,
  init: SerializeInit,
  cancel: BodyCancel,
): AsyncGenerator<Uint8Array[], void, undefined> {
  const fields = init.fields ?? [];
  const { status, body } = response;
  if (isNullBodyStatus(status) || body === null) {
    if (body !== null) await body.cancel();
    yield [encodeHead(response, status === 204 || status === 304 ? null : { contentLength: 0 }, fields)];
    return;
  }
  const reader = body.getReader();
  cancel.reader = reader;
  let finished = false;
  try {
    const ahead = await readAvailable(reader, init.maxBufferedBody ?? DEFAULT_MAX_BUFFERED_BODY);
    if (cancel.cancelled) return;
    if (ahead.done) {
      finished = true;
      yield [encodeHead(response, { contentLength: ahead.bytes }, fields), ...ahead.chunks];
      return;
    }
    const first: Uint8Array[] = [encodeHead(response, { chunked: true }, fields)];
    for (const chunk of ahead.chunks) first.push(getChunkHeader(chunk.byteLength), chunk, CRLF);
    yield first;
    let pending = ahead.pending;
    for (;;) {
      const { done, value } = await (pending ?? reader.read());
      pending = undefined;
      // A body cancelled by return() ends too, but the message is cut short: no last-chunk.
      if (cancel.cancelled) return;
      if (done) break;
      const chunk = toBodyChunk(value);
      // A zero-size chunk would end the body early (RFC 9112 section 7.1).
      if (chunk.byteLength > 0) yield [getChunkHeader(chunk.byteLength), chunk, CRLF];
    }
    finished = true;
    yield [LAST_CHUNK];
  } finally {
    if (!finished) reader.cancel().catch(() => {});
    reader.releaseLock();
  }
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
    async cancel() {
      await batches.return();
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
