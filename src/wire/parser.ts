// Over 300 lines on purpose: the parser is one state machine (`State`, one switch) that must count bytes
// across every chunk boundary. The head's syntax is head.ts, chunk-size lines chunked.ts, the bounds
// limits.ts.
import { parseChunkSizeLine } from './chunked.ts';
import { WireError } from './errors.ts';
import { CONTEXT_PREFIX, getConnectionTokens, isHopByHop } from './fields.ts';
import {
  type BodyFraming,
  type FramingFields,
  getBodyFraming,
  parseFieldLine,
  parseStatusLine,
} from './head.ts';
import { MAX_CHUNK_LINE_BYTES, resolveLimits, type WireLimits } from './limits.ts';
import { CR, LF } from './syntax.ts';

/** A parsed response head. */
export interface ResponseHead {
  status: number;
  statusText: string;
  /** The fields, less framing, hop-by-hop and `Transform-Request-*` fields. */
  headers: Headers;
  /** `Transform-Request-*` fields, keyed by the lower-case rest of the name (`id`, `url`, `header-accept`). */
  context: Map<string, string>;
  framing: BodyFraming;
  /** `Connection: close`: the sender will not send another message. */
  close: boolean;
}

/** What a {@link ResponseParser} reports, in stream order. */
export interface ParserEvents {
  /** The first byte of a message arrived, at this stream offset. */
  onMessageBegin?(offset: number): void;
  onHead(head: ResponseHead): void;
  /** A view into the pushed chunk: copy it to keep it past the call only if the chunk is reused. */
  onBody(chunk: Uint8Array): void;
  onMessageEnd(): void;
  /**
   * The message's body is over `maxBodyBytes` (a `Content-Length` over it, told after its head, or the byte
   * past it): return true to read the rest of this body on without the limit (its framing is trusted and its
   * bytes are dropped); otherwise, or without this event, `error` is thrown.
   */
  onOverLimit?(error: WireError): boolean;
}

/** Options of {@link ResponseParser}. */
export interface ParserOptions {
  limits?: Partial<WireLimits>;
}

type State =
  | 'message-start'
  | 'head'
  | 'body'
  | 'body-until-close'
  | 'chunk-size'
  | 'chunk-data'
  | 'chunk-data-end'
  | 'trailers'
  /** After a `Connection: close` message: the sender promised to send nothing more. */
  | 'closed'
  | 'failed';

/** A line's content in `bytes[start, end)`, `base` the stream offset of `bytes[0]`, `size` with CRLF. */
interface Line {
  bytes: Uint8Array | undefined;
  start: number;
  end: number;
  base: number;
  size: number;
}

const FORBIDDEN_TRAILERS = new Set(['content-length', 'transfer-encoding', 'connection', 'trailer']);

/**
 * An incremental, strict HTTP/1.1 response parser (RFC 9112) for a stream that carries messages one after
 * another. Push bytes as they come; events fire synchronously during `push`. Heads are counted against the
 * limits as bytes arrive, body bytes are handed on as views, never copied. After an error every call throws it.
 *
 * @example
 * ```ts
 * const parser = new ResponseParser({ onHead: (h) => console.log(h.status), onBody() {}, onMessageEnd() {} });
 * parser.push(new TextEncoder().encode('HTTP/1.1 204 No Content\r\n\r\n')); // logs 204
 * ```
 */
export class ResponseParser {
  readonly #events: ParserEvents;
  readonly #limits: WireLimits;
  #state: State = 'message-start';
  #error: unknown;
  /** Stream offset of the first byte of the chunk being pushed. */
  #base = 0;
  /** Bytes of a line that started in an earlier chunk. */
  #partial: Uint8Array | undefined;
  #headBytes = 0;
  #fieldCount = 0;
  #status = 0;
  #statusText = '';
  #fields: [string, string][] = [];
  #framingFields: FramingFields = {
    contentLength: undefined,
    transferEncoding: undefined,
    connectionClose: false,
  };
  #context = new Map<string, string>();
  /** The line {@link #readLine} found: one object, reused, as a head has many lines. */
  readonly #line: Line = { bytes: undefined, start: 0, end: 0, base: 0, size: 0 };
  #remaining = 0;
  #bodyBytes = 0;
  /** `maxBodyBytes` for the message being read: lifted when {@link ParserEvents.onOverLimit} takes it on. */
  #bodyLimit: number;
  #close = false;

  constructor(events: ParserEvents, options: ParserOptions = {}) {
    this.#events = events;
    this.#limits = resolveLimits(options.limits);
    this.#bodyLimit = this.#limits.maxBodyBytes;
  }

  /** Whether the parser is between messages with nothing buffered. */
  get idle(): boolean {
    return this.#state === 'message-start' && this.#error === undefined;
  }

  /** Stream offset of the next byte. */
  get offset(): number {
    return this.#base;
  }

  /** Parse `chunk`; throws a {@link WireError} at the first byte that cannot be trusted. */
  push(chunk: Uint8Array): void {
    if (this.#error !== undefined) throw this.#error;
    try {
      this.#parse(chunk);
    } catch (error) {
      // An event handler's own error (the pool's protocol checks) stops the parser as a wire error does.
      this.#state = 'failed';
      this.#error = error;
      throw error;
    } finally {
      this.#base += chunk.byteLength;
    }
  }

  /** The stream ended: completes a close-delimited body, throws if a message is incomplete. */
  end(): void {
    if (this.#error !== undefined) throw this.#error;
    if (this.#state === 'body-until-close') {
      this.#state = 'message-start';
      this.#events.onMessageEnd();
      return;
    }
    if (this.#state !== 'message-start' && this.#state !== 'closed') {
      const where =
        this.#state === 'body'
          ? `after ${this.#bodyBytes} of ${this.#bodyBytes + this.#remaining} body bytes`
          : 'in the middle of a message';
      this.#state = 'failed';
      this.#error = new WireError('ERR_WIRE_INCOMPLETE', `Stream ended ${where}`, this.#base);
      throw this.#error;
    }
  }

  #parse(chunk: Uint8Array): void {
    let i = 0;
    const end = chunk.byteLength;
    while (i < end) {
      switch (this.#state) {
        case 'message-start':
          this.#startMessage(this.#base + i);
          this.#state = 'head';
          break;
        case 'head': {
          i = this.#readLine(chunk, i, this.#limits.maxHeaderBytes - this.#headBytes);
          const line = this.#line;
          if (line.bytes === undefined) break;
          this.#headBytes += line.size;
          this.#onHeadLine(line.bytes, line.start, line.end, line.base);
          break;
        }
        case 'body': {
          const take = Math.min(this.#remaining, end - i);
          this.#remaining -= take;
          this.#emitBody(chunk.subarray(i, i + take), i);
          i += take;
          if (this.#remaining === 0) this.#endMessage();
          break;
        }
        case 'body-until-close':
          this.#emitBody(i === 0 ? chunk : chunk.subarray(i), i);
          i = end;
          break;
        case 'chunk-size': {
          i = this.#readLine(chunk, i, MAX_CHUNK_LINE_BYTES);
          const line = this.#line;
          if (line.bytes === undefined) break;
          this.#remaining = parseChunkSizeLine(line.bytes, line.start, line.end, line.base);
          this.#state = this.#remaining === 0 ? 'trailers' : 'chunk-data';
          if (this.#remaining === 0) {
            this.#headBytes = 0;
            this.#fieldCount = 0;
          }
          break;
        }
        case 'chunk-data': {
          const take = Math.min(this.#remaining, end - i);
          this.#remaining -= take;
          this.#emitBody(chunk.subarray(i, i + take), i);
          i += take;
          if (this.#remaining === 0) this.#state = 'chunk-data-end';
          break;
        }
        case 'chunk-data-end':
          // Each chunk's data is followed by exactly CRLF; #remaining counts which of the two is due.
          if (chunk[i] !== (this.#remaining === 0 ? CR : LF)) {
            throw new WireError(
              'ERR_WIRE_SYNTAX',
              'Chunk data not followed by CRLF: wrong chunk size',
              this.#base + i,
            );
          }
          i++;
          if (this.#remaining === 0) this.#remaining = 1;
          else this.#state = 'chunk-size';
          break;
        case 'trailers': {
          i = this.#readLine(chunk, i, this.#limits.maxHeaderBytes - this.#headBytes);
          const line = this.#line;
          if (line.bytes === undefined) break;
          this.#headBytes += line.size;
          this.#onTrailerLine(line.bytes, line.start, line.end, line.base);
          break;
        }
        case 'closed':
          throw new WireError('ERR_WIRE_SYNTAX', 'Bytes after a Connection: close message', this.#base + i);
        default:
          throw this.#error;
      }
    }
  }

  #startMessage(offset: number): void {
    this.#headBytes = 0;
    this.#fieldCount = 0;
    this.#fields = [];
    this.#framingFields = { contentLength: undefined, transferEncoding: undefined, connectionClose: false };
    this.#context = new Map();
    this.#bodyBytes = 0;
    this.#bodyLimit = this.#limits.maxBodyBytes;
    this.#events.onMessageBegin?.(offset);
  }

  /**
   * Find the line that starts at `i`, joining it with bytes buffered from earlier chunks, and leave its
   * content (without CRLF) in {@link #line}, whose `bytes` stay undefined while the line is incomplete.
   * Returns where parsing goes on. `budget` bounds the line's size.
   */
  #readLine(chunk: Uint8Array, i: number, budget: number): number {
    const line = this.#line;
    line.bytes = undefined;
    const lf = chunk.indexOf(LF, i);
    const partial = this.#partial;
    this.#checkBareCr(chunk, i, lf === -1 ? chunk.byteLength : lf, budget - (partial?.byteLength ?? 0));
    const size = (partial?.byteLength ?? 0) + (lf === -1 ? chunk.byteLength : lf + 1) - i;
    if (size > budget) {
      const [what, limit] =
        this.#state === 'chunk-size'
          ? ['Chunk size line', MAX_CHUNK_LINE_BYTES]
          : ['Head', this.#limits.maxHeaderBytes];
      // Name the first byte past the limit, so the offset does not depend on how the stream was chunked.
      const over = this.#base + i + budget - (partial?.byteLength ?? 0);
      throw new WireError('ERR_WIRE_LIMIT', `${what} larger than ${limit} bytes`, over);
    }
    if (lf === -1) {
      this.#partial = partial === undefined ? chunk.slice(i) : joinBytes(partial, chunk.subarray(i));
      return chunk.byteLength;
    }
    // A buffered line started at the end of the previous chunk, so this chunk's part starts at i = 0.
    const bytes = partial === undefined ? chunk : joinBytes(partial, chunk.subarray(0, lf + 1));
    const start = partial === undefined ? i : 0;
    const lineFeed = partial === undefined ? lf : bytes.byteLength - 1;
    const base = this.#base - (partial?.byteLength ?? 0);
    this.#partial = undefined;
    // Lines end in CRLF; a bare LF is how parsers are desynchronised (RFC 9112 section 2.2).
    if (lineFeed === start || bytes[lineFeed - 1] !== CR) {
      throw new WireError('ERR_WIRE_SYNTAX', 'Bare LF: lines must end with CRLF', base + lineFeed);
    }
    line.bytes = bytes;
    line.start = start;
    line.end = lineFeed - 1;
    line.base = base;
    line.size = size;
    return lf + 1;
  }

  /**
   * A CR must be followed by LF (RFC 9112 section 2.2): refuse one followed by any other byte as soon as that
   * byte is here, even before the line ends, so such a line never waits for more bytes. Checks the line's bytes
   * in `chunk[i, end)` that fall within `room`; a CR past it is over the size limit, reported at an earlier
   * offset. Runs before anything else looks at the line, so the error is the same however the stream is split.
   */
  #checkBareCr(chunk: Uint8Array, i: number, end: number, room: number): void {
    // A CR that ended the previous chunk is judged by this chunk's first byte (a buffered line means i = 0).
    const partial = this.#partial;
    if (partial !== undefined && partial[partial.byteLength - 1] === CR && chunk[i] !== LF) {
      throw new WireError('ERR_WIRE_SYNTAX', 'Bare CR: a CR must be followed by LF', this.#base + i - 1);
    }
    const last = Math.min(end, i + room);
    for (let cr = chunk.indexOf(CR, i); cr !== -1 && cr < last; cr = chunk.indexOf(CR, cr + 1)) {
      if (cr + 1 < chunk.byteLength && chunk[cr + 1] !== LF) {
        throw new WireError('ERR_WIRE_SYNTAX', 'Bare CR: a CR must be followed by LF', this.#base + cr);
      }
    }
  }

  #onHeadLine(bytes: Uint8Array, start: number, end: number, base: number): void {
    if (this.#status === 0) {
      ({ status: this.#status, statusText: this.#statusText } = parseStatusLine(bytes, start, end, base));
      return;
    }
    if (start === end) {
      this.#onHeadEnd(base + end);
      return;
    }
    this.#countField(base + start);
    const { name, value } = parseFieldLine(bytes, start, end, base);
    const framing = this.#framingFields;
    if (name === 'content-length' || name === 'transfer-encoding') {
      const key = name === 'content-length' ? 'contentLength' : 'transferEncoding';
      // A repeated framing field leaves two readers free to disagree (RFC 9112 sections 6.1, 6.3).
      if (framing[key] !== undefined) {
        throw new WireError(
          'ERR_WIRE_SYNTAX',
          `Duplicate ${name === 'content-length' ? 'Content-Length' : 'Transfer-Encoding'}`,
          base + start,
        );
      }
      framing[key] = value;
    } else if (name.startsWith(CONTEXT_PREFIX)) {
      const key = name.slice(CONTEXT_PREFIX.length);
      // Two ids leave the reader to pick one: whichever it picks, a transform could pass off one answer as
      // another's. Exactly one, in either order.
      if (key === 'id' && this.#context.has(key)) {
        throw new WireError('ERR_WIRE_SYNTAX', 'Duplicate Transform-Request-Id', base + start);
      }
      this.#context.set(key, value);
    } else {
      if (name === 'connection' && getConnectionTokens(value).includes('close'))
        framing.connectionClose = true;
      this.#fields.push([name, value]);
    }
  }

  #countField(offset: number): void {
    if (++this.#fieldCount > this.#limits.maxHeaderCount) {
      throw new WireError('ERR_WIRE_LIMIT', `More than ${this.#limits.maxHeaderCount} fields`, offset);
    }
  }

  #onHeadEnd(offset: number): void {
    const framing = getBodyFraming(this.#status, this.#framingFields, offset);
    const headers = new Headers();
    // Connection is a list field: every line of it names fields to drop (RFC 9110 sections 5.3, 7.6.1).
    const dropped = this.#fields.flatMap(([name, value]) =>
      name === 'connection' ? getConnectionTokens(value) : [],
    );
    for (const [name, value] of this.#fields) {
      if (!isHopByHop(name) && !dropped.includes(name)) headers.append(name, value);
    }
    const head: ResponseHead = {
      status: this.#status,
      statusText: this.#statusText,
      headers,
      context: this.#context,
      framing,
      close: this.#framingFields.connectionClose,
    };
    this.#status = 0;
    this.#close = head.close;
    const over =
      framing.kind === 'length' && framing.length > this.#bodyLimit
        ? new WireError(
            'ERR_WIRE_LIMIT',
            `Content-Length ${framing.length} larger than ${this.#bodyLimit} bytes`,
            offset,
          )
        : undefined;
    // Refused before its head, unless onOverLimit may take it on: it needs the head to know whose answer it is.
    if (over !== undefined && this.#events.onOverLimit === undefined) throw over;
    this.#events.onHead(head);
    if (over !== undefined) this.#overLimit(over);
    switch (framing.kind) {
      case 'none':
        this.#endMessage();
        return;
      case 'length':
        this.#remaining = framing.length;
        this.#state = 'body';
        if (framing.length === 0) this.#endMessage();
        return;
      case 'chunked':
        this.#state = 'chunk-size';
        return;
      case 'close':
        this.#state = 'body-until-close';
    }
  }

  #onTrailerLine(bytes: Uint8Array, start: number, end: number, base: number): void {
    if (start === end) {
      this.#endMessage();
      return;
    }
    this.#countField(base + start);
    const { name } = parseFieldLine(bytes, start, end, base);
    // Trailers are discarded, and those that would change framing are refused (RFC 9110 section 6.5.1).
    if (FORBIDDEN_TRAILERS.has(name)) {
      throw new WireError('ERR_WIRE_SYNTAX', `Trailer field ${name} is not allowed`, base + start);
    }
  }

  #emitBody(view: Uint8Array, index: number): void {
    if (view.byteLength === 0) return;
    const room = this.#bodyLimit - this.#bodyBytes;
    if (view.byteLength > room) {
      // The offset names the first byte past the limit, however the stream was chunked.
      const what = `Body larger than ${this.#bodyLimit} bytes`;
      this.#overLimit(new WireError('ERR_WIRE_LIMIT', what, this.#base + index + room));
    }
    this.#bodyBytes += view.byteLength;
    this.#events.onBody(view);
  }

  /** A body over the limit: thrown, unless the events take the rest of this body on without it. */
  #overLimit(error: WireError): void {
    if (this.#events.onOverLimit?.(error) !== true) throw error;
    this.#bodyLimit = Number.POSITIVE_INFINITY;
  }

  #endMessage(): void {
    this.#state = this.#close ? 'closed' : 'message-start';
    this.#events.onMessageEnd();
  }
}

function joinBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.byteLength + b.byteLength);
  joined.set(a, 0);
  joined.set(b, a.byteLength);
  return joined;
}
