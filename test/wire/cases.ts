// Raw wire cases for the strict HTTP/1.1 response parser: each is run whole, byte by byte and split at every
// position by corpus.test.ts. Strings are Latin-1: one character is one byte, so `\xe9` is the byte 0xe9.
import type { WireErrorCode, WireLimits } from '../../src/wire/index.ts';

/** A message the parser must deliver, fully and exactly. */
export interface ExpectedMessage {
  status: number;
  /** Checked when given. */
  statusText?: string;
  /** The exact list, lower-case names, in `Headers` iteration order; absent means none. */
  headers?: [string, string][];
  /** The exact `Transform-Request-*` fields of `head.context`, in wire order; absent means none. */
  context?: [string, string][];
  body: string | Uint8Array;
}

export type Outcome =
  | { accept: ExpectedMessage[]; limits?: Partial<WireLimits> }
  | {
      reject: WireErrorCode;
      /** Messages fully delivered before the bad one. */
      accepted?: ExpectedMessage[];
      limits?: Partial<WireLimits>;
      /** Stream offset the error must name, whatever the chunking. */
      offset?: number;
    };

export interface WireCase {
  name: string;
  input: string | Uint8Array;
  outcome: Outcome;
}

/** Latin-1 bytes of `text`. */
export function latin1(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) throw new RangeError(`Not a Latin-1 string: code point ${code} at ${i}`);
    bytes[i] = code;
  }
  return bytes;
}

/** Join Latin-1 strings and raw bytes. */
export function concat(...parts: (string | Uint8Array)[]): Uint8Array<ArrayBuffer> {
  const views = parts.map((part) => (typeof part === 'string' ? latin1(part) : part));
  const joined = new Uint8Array(views.reduce((size, view) => size + view.byteLength, 0));
  let offset = 0;
  for (const view of views) {
    joined.set(view, offset);
    offset += view.byteLength;
  }
  return joined;
}

/** Bytes of a case input. */
export function toBytes(input: string | Uint8Array): Uint8Array {
  return typeof input === 'string' ? latin1(input) : input;
}

/** Bytes as Latin-1 text, so that a mismatch diffs readably. */
export function toText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** mulberry32, an integer below `below` per call: a fixed seed gives the same splits on every run. */
export function createRandom(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
}

export function splitEvery(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.byteLength; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

/** Cut at the given ascending positions. */
export function splitAt(bytes: Uint8Array, positions: number[]): Uint8Array[] {
  const cuts = [0, ...positions, bytes.byteLength];
  return cuts.slice(1).map((end, i) => bytes.subarray(cuts[i], end));
}

/** Cut into pieces of 1 to `largest` bytes, at random. */
export function splitRandomly(
  bytes: Uint8Array,
  random: (below: number) => number,
  largest: number,
): Uint8Array[] {
  const positions: number[] = [];
  for (let at = 1 + random(largest); at < bytes.byteLength; at += 1 + random(largest)) positions.push(at);
  return splitAt(bytes, positions);
}

/** A source handing out one chunk per read, only when asked. */
export function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const chunk = chunks[next++];
        if (chunk === undefined) controller.close();
        else controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
}

const OK = 'HTTP/1.1 200 OK\r\n';
/** A chunked 200 head: 47 bytes, so the first chunk-size line starts at offset 47. */
const CHUNKED = `${OK}Transfer-Encoding: chunked\r\n\r\n`;

function ok(body: string | Uint8Array, headers?: [string, string][]): ExpectedMessage {
  return { status: 200, statusText: 'OK', headers, body };
}

/** A 200 head with no body of exactly `size` bytes, padded by an `X-Pad` field. */
function headOfSize(size: number): string {
  const pad = size - `${OK}X-Pad: \r\nContent-Length: 0\r\n\r\n`.length;
  return `${OK}X-Pad: ${'p'.repeat(pad)}\r\nContent-Length: 0\r\n\r\n`;
}

/** A chunk-size line of exactly `size` bytes, CRLF included, padded with an extension. */
function chunkLineOfSize(size: number): string {
  return `1;a=${'x'.repeat(size - 6)}\r\n`;
}

const FAKE_MESSAGE = '\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
/** Binary bytes holding CR, LF, NUL, 0xff and a whole message-like sequence: a body, never a head. */
export const BINARY_BODY = concat(
  Uint8Array.of(0, 0xff, 0x0d),
  FAKE_MESSAGE,
  Uint8Array.of(0x80, 0x0a, 0x0d),
);

const accepting: WireCase[] = [
  {
    name: 'a Content-Length body',
    input: `${OK}Content-Length: 5\r\n\r\nhello`,
    outcome: { accept: [ok('hello')] },
  },
  { name: 'no bytes at all: no responses', input: '', outcome: { accept: [] } },
  {
    name: 'an empty reason phrase after the space',
    input: 'HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n',
    outcome: { accept: [{ status: 200, statusText: '', body: '' }] },
  },
  {
    name: 'no reason phrase and no space after the status code',
    input: 'HTTP/1.1 201\r\nContent-Length: 2\r\n\r\nok',
    outcome: { accept: [{ status: 201, statusText: '', body: 'ok' }] },
  },
  {
    name: 'a 204 with no reason phrase, then another message',
    input: `HTTP/1.1 204\r\n\r\n${OK}Content-Length: 1\r\n\r\nx`,
    outcome: { accept: [{ status: 204, statusText: '', body: '' }, ok('x')] },
  },
  {
    name: 'a reason phrase with spaces, a tab and punctuation',
    input: 'HTTP/1.1 404 Not\tFound (here): 42 \r\nContent-Length: 0\r\n\r\n',
    outcome: { accept: [{ status: 404, statusText: 'Not\tFound (here): 42 ', body: '' }] },
  },
  {
    name: 'a reason phrase with obs-text bytes',
    input: 'HTTP/1.1 200 Caf\xe9 \x80\xff\r\nContent-Length: 0\r\n\r\n',
    outcome: { accept: [{ status: 200, statusText: 'Caf\xe9 \x80\xff', body: '' }] },
  },
  {
    name: 'the highest final status',
    input: 'HTTP/1.1 599 Custom\r\nContent-Length: 1\r\n\r\nx',
    outcome: { accept: [{ status: 599, statusText: 'Custom', body: 'x' }] },
  },
  {
    name: 'obs-text in a field value',
    input: `${OK}X-Obs: caf\xe9 \xff\r\nContent-Length: 0\r\n\r\n`,
    outcome: { accept: [ok('', [['x-obs', 'caf\xe9 \xff']])] },
  },
  {
    name: 'a tab inside a field value',
    input: `${OK}X-Tab: a\tb\r\nContent-Length: 0\r\n\r\n`,
    outcome: { accept: [ok('', [['x-tab', 'a\tb']])] },
  },
  {
    name: 'leading and trailing whitespace of a value is trimmed',
    input: `${OK}X-Ows: \t a b \t\r\nContent-Length: 0\r\n\r\n`,
    outcome: { accept: [ok('', [['x-ows', 'a b']])] },
  },
  {
    name: 'no whitespace after the colon, and colons inside the value',
    input: `${OK}X-Url:http://h:8080/p\r\nContent-Length: 0\r\n\r\n`,
    outcome: { accept: [ok('', [['x-url', 'http://h:8080/p']])] },
  },
  {
    name: 'empty field values',
    input: `${OK}X-Empty:\r\nX-Blank:  \t \r\nContent-Length: 0\r\n\r\n`,
    outcome: {
      accept: [
        ok('', [
          ['x-blank', ''],
          ['x-empty', ''],
        ]),
      ],
    },
  },
  {
    name: 'field names are lower-cased',
    input: `${OK}CONTENT-TYPE: text/html\r\nContent-Length: 0\r\n\r\n`,
    outcome: { accept: [ok('', [['content-type', 'text/html']])] },
  },
  {
    name: 'a field name made of every tchar',
    input: `${OK}!#$%&'*+-.^_\`|~09AZaz: v\r\nContent-Length: 0\r\n\r\n`,
    outcome: { accept: [ok('', [["!#$%&'*+-.^_`|~09azaz", 'v']])] },
  },
  {
    name: 'repeated fields are joined with a comma',
    input: `${OK}X-A: 1\r\nx-a: 2\r\nContent-Length: 0\r\n\r\n`,
    outcome: { accept: [ok('', [['x-a', '1, 2']])] },
  },
  {
    name: 'each Set-Cookie stays separate, commas and Expires included',
    input:
      `${OK}Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT\r\n` +
      'set-cookie: c=x, y\r\nContent-Length: 0\r\n\r\n',
    outcome: {
      accept: [
        ok('', [
          ['set-cookie', 'a=1; Path=/'],
          ['set-cookie', 'b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT'],
          ['set-cookie', 'c=x, y'],
        ]),
      ],
    },
  },
  {
    name: 'headers iterate in sorted order',
    input: `${OK}Z-Last: z\r\nA-First: a\r\nM-Middle: m\r\nContent-Length: 0\r\n\r\n`,
    outcome: {
      accept: [
        ok('', [
          ['a-first', 'a'],
          ['m-middle', 'm'],
          ['z-last', 'z'],
        ]),
      ],
    },
  },
  { name: 'a zero Content-Length', input: `${OK}Content-Length: 0\r\n\r\n`, outcome: { accept: [ok('')] } },
  {
    name: 'leading zeros in Content-Length',
    input: `${OK}Content-Length: 005\r\n\r\nhello`,
    outcome: { accept: [ok('hello')] },
  },
  {
    name: 'a fifteen-digit Content-Length',
    input: `${OK}Content-Length: 000000000000003\r\n\r\nabc`,
    outcome: { accept: [ok('abc')] },
  },
  {
    name: 'whitespace around the Content-Length value',
    input: `${OK}Content-Length: \t3 \r\n\r\nabc`,
    outcome: { accept: [ok('abc')] },
  },
  {
    name: 'a chunked body',
    input: `${CHUNKED}5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
    outcome: { accept: [ok('hello world')] },
  },
  {
    name: 'Transfer-Encoding is case-insensitive',
    input: `${OK}Transfer-Encoding: ChUnKeD\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    outcome: { accept: [ok('abc')] },
  },
  {
    name: 'upper- and lower-case hex chunk sizes',
    input: `${CHUNKED}A\r\n0123456789\r\nb\r\nabcdefghijk\r\n1F\r\n${'x'.repeat(31)}\r\n0\r\n\r\n`,
    outcome: { accept: [ok(`0123456789abcdefghijk${'x'.repeat(31)}`)] },
  },
  {
    name: 'leading zeros in chunk sizes',
    input: `${CHUNKED}0005\r\nhello\r\n00000000000000000001\r\n!\r\n000\r\n\r\n`,
    outcome: { accept: [ok('hello!')] },
  },
  {
    name: 'token chunk extensions, with optional whitespace, are ignored',
    input: `${CHUNKED}5;a=b;flag\r\nhello\r\n3 ; name = value ;x\r\nabc\r\n0;last=1\r\n\r\n`,
    outcome: { accept: [ok('helloabc')] },
  },
  {
    name: 'quoted-string chunk extensions with an escaped quote, a backslash and obs-text',
    input: `${CHUNKED}5;a="x\\"y;z";b="";c="\\\\";d="\xe9\t"\r\nhello\r\n0\r\n\r\n`,
    outcome: { accept: [ok('hello')] },
  },
  {
    name: 'trailers are validated and dropped',
    input: `${OK}Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n2\r\nhi\r\n0\r\nX-Sum: 1\r\nX-Other:\r\n\r\n`,
    outcome: { accept: [ok('hi')] },
  },
  { name: 'an empty chunked body', input: `${CHUNKED}0\r\n\r\n`, outcome: { accept: [ok('')] } },
  {
    name: 'the largest chunk-size line (4096 bytes)',
    input: `${CHUNKED}${chunkLineOfSize(4096)}Z\r\n0\r\n\r\n`,
    outcome: { accept: [ok('Z')] },
  },
  {
    name: 'Connection: close without a length: the body runs to the end of the stream',
    input: `${OK}Connection: close\r\n\r\nall of it\r\n\r\nHTTP/1.1 200 OK\r\n`,
    outcome: { accept: [ok('all of it\r\n\r\nHTTP/1.1 200 OK\r\n')] },
  },
  {
    name: 'Connection: close and the end of the stream right after the head: an empty body',
    input: `${OK}Connection: close\r\n\r\n`,
    outcome: { accept: [ok('')] },
  },
  {
    name: 'Connection: close with a Content-Length',
    input: `${OK}Connection: close\r\nContent-Length: 2\r\n\r\nhi`,
    outcome: { accept: [ok('hi')] },
  },
  {
    name: 'Connection tokens are a case-insensitive list',
    input: `${OK}Connection: Keep-Alive, CLOSE\r\nKeep-Alive: timeout=5\r\nX-A: 1\r\n\r\nrest`,
    outcome: { accept: [ok('rest', [['x-a', '1']])] },
  },
  {
    name: 'a field named in Connection is removed',
    input: `${OK}Connection: x-secret\r\nX-Secret: s\r\nX-Kept: k\r\nContent-Length: 0\r\n\r\n`,
    outcome: { accept: [ok('', [['x-kept', 'k']])] },
  },
  {
    name: 'fields named in several Connection lines are all removed',
    input:
      `${OK}Connection: x-one\r\nConnection: X-Two\r\nX-One: 1\r\nX-Two: 2\r\nX-Three: 3\r\n` +
      'Content-Length: 0\r\n\r\n',
    outcome: { accept: [ok('', [['x-three', '3']])] },
  },
  {
    name: 'hop-by-hop fields are removed',
    input:
      `${OK}Keep-Alive: timeout=5\r\nUpgrade: h2c\r\nTE: trailers\r\nTrailer: X-T\r\n` +
      'Proxy-Authenticate: Basic\r\nProxy-Connection: keep-alive\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n',
    outcome: { accept: [ok('', [['x-a', '1']])] },
  },
  {
    name: 'Transform-Request fields go to the context, not the headers',
    input:
      `${OK}Transform-Request-Id: 7\r\nTRANSFORM-REQUEST-URL: http://h/p?q=1\r\n` +
      'Transform-Request-Header-Accept: text/html\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok',
    outcome: {
      accept: [
        {
          ...ok('ok', [['x-a', '1']]),
          context: [
            ['id', '7'],
            ['url', 'http://h/p?q=1'],
            ['header-accept', 'text/html'],
          ],
        },
      ],
    },
  },
  {
    name: 'a 204 without framing fields',
    input: 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n',
    outcome: { accept: [{ status: 204, statusText: 'No Content', headers: [['x-a', '1']], body: '' }] },
  },
  {
    name: 'a 204 with a zero Content-Length',
    input: 'HTTP/1.1 204 No Content\r\nContent-Length: 000\r\n\r\n',
    outcome: { accept: [{ status: 204, body: '' }] },
  },
  {
    name: 'a 304 with a Content-Length has no body',
    input: `HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: "v1"\r\n\r\n${OK}Content-Length: 2\r\n\r\nok`,
    outcome: {
      accept: [{ status: 304, statusText: 'Not Modified', headers: [['etag', '"v1"']], body: '' }, ok('ok')],
    },
  },
  {
    name: 'a 204 and a 304 back to back',
    input: 'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n',
    outcome: {
      accept: [
        { status: 204, body: '' },
        { status: 304, body: '' },
      ],
    },
  },
  {
    name: 'several messages back to back, each framed differently',
    input:
      `${OK}Content-Length: 3\r\n\r\none${CHUNKED}3\r\ntwo\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n` +
      `HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nfour${OK}Connection: close\r\n\r\nfive`,
    outcome: {
      accept: [
        ok('one'),
        ok('two'),
        { status: 204, body: '' },
        { status: 404, statusText: 'Not Found', body: 'four' },
        ok('five'),
      ],
    },
  },
  {
    name: 'a binary Content-Length body holding a message-like sequence',
    input: concat(
      `${OK}Content-Length: ${BINARY_BODY.byteLength}\r\n\r\n`,
      BINARY_BODY,
      `${OK}Content-Length: 0\r\n\r\n`,
    ),
    outcome: { accept: [ok(BINARY_BODY), ok('')] },
  },
  {
    name: 'a binary chunk holding a message-like sequence and a last-chunk',
    input: concat(
      CHUNKED,
      `${BINARY_BODY.byteLength.toString(16)}\r\n`,
      BINARY_BODY,
      '\r\n5\r\n0\r\n\r\n\r\n0\r\n\r\n',
    ),
    outcome: { accept: [ok(concat(BINARY_BODY, '0\r\n\r\n'))] },
  },
  {
    name: 'a head of exactly maxHeaderBytes',
    input: headOfSize(64),
    outcome: { accept: [ok('', [['x-pad', 'p'.repeat(17)]])], limits: { maxHeaderBytes: 64 } },
  },
  {
    name: 'exactly maxHeaderCount fields, framing included',
    input: `${OK}X-A: 1\r\nX-B: 2\r\nContent-Length: 0\r\n\r\n`,
    outcome: {
      accept: [
        ok('', [
          ['x-a', '1'],
          ['x-b', '2'],
        ]),
      ],
      limits: { maxHeaderCount: 3 },
    },
  },
  {
    name: 'bodies of exactly maxBodyBytes',
    input: `${OK}Content-Length: 5\r\n\r\nhello${CHUNKED}2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n`,
    outcome: { accept: [ok('hello'), ok('hello')], limits: { maxBodyBytes: 5 } },
  },
];

const rejectingStatusLines: WireCase[] = [
  {
    name: 'an HTTP/1.0 status line',
    input: 'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 7 },
  },
  {
    name: 'a lower-case protocol name',
    input: 'http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 0 },
  },
  {
    name: 'an HTTP/2 status line',
    input: 'HTTP/2 200\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 5 },
  },
  {
    name: 'a letter right after the status code',
    input: 'HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 12 },
  },
  {
    name: 'a two-digit status code',
    input: 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 11 },
  },
  {
    name: 'a four-digit status code',
    input: 'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 12 },
  },
  {
    name: 'two spaces before the status code',
    input: 'HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 9 },
  },
  {
    name: 'an interim 100 Continue before the final response',
    input: `HTTP/1.1 100 Continue\r\n\r\n${OK}Content-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 9 },
  },
  {
    name: 'an interim 103 Early Hints',
    input: 'HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 9 },
  },
  {
    name: 'a 101 Switching Protocols',
    input: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 9 },
  },
  {
    name: 'a status below 100',
    input: 'HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 9 },
  },
  {
    name: 'a status above 599',
    input: 'HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 9 },
  },
  {
    name: 'whitespace before the status line',
    input: ' HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 0 },
  },
  {
    name: 'a blank line before the status line',
    input: `\r\n${OK}Content-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 0 },
  },
  {
    name: 'a control character in the reason phrase',
    input: 'HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 14 },
  },
  {
    name: 'DEL in the reason phrase',
    input: 'HTTP/1.1 200 O\x7fK\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 14 },
  },
  {
    name: 'a bare CR in the reason phrase',
    input: 'HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 14 },
  },
];

const rejectingLines: WireCase[] = [
  {
    name: 'a bare LF after the status line',
    input: 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 15 },
  },
  {
    name: 'a bare LF after a field line',
    input: `${OK}Content-Length: 0\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 34 },
  },
  {
    name: 'a bare LF as the blank line',
    input: `${OK}Content-Length: 0\r\n\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 36 },
  },
  { name: 'a lone LF', input: '\n', outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 0 } },
  {
    name: 'a bare CR inside a field value',
    input: `${OK}X-A: a\rb\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 23 },
  },
  {
    name: 'CR CR LF at the end of a field line',
    input: `${OK}X-A: a\r\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 23 },
  },
  {
    name: 'obs-fold with a space',
    input: `${OK}X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 25 },
  },
  {
    name: 'obs-fold with a tab',
    input: `${OK}X-A: a\r\n\tb\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 25 },
  },
  {
    name: 'whitespace between the status line and the first field',
    input: `${OK} Content-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 17 },
  },
  {
    name: 'a space before the colon',
    input: `${OK}X-A : 1\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 20 },
  },
  {
    name: 'a tab before the colon',
    input: `${OK}X-A\t: 1\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 20 },
  },
  {
    name: 'a space before the colon of Content-Length',
    input: `${OK}Content-Length : 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 31 },
  },
  {
    name: 'an empty field name',
    input: `${OK}: v\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 17 },
  },
  {
    name: 'a field line without a colon',
    input: `${OK}NoColon\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 17 },
  },
  {
    name: 'a non-token byte in a field name',
    input: `${OK}X(A): 1\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 18 },
  },
  {
    name: 'a space inside a field name',
    input: `${OK}X A: 1\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 18 },
  },
  {
    name: 'a non-ASCII byte in a field name',
    input: `${OK}X-\xe9: 1\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 19 },
  },
  {
    name: 'NUL in a field value',
    input: `${OK}X-A: a\x00b\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 23 },
  },
  {
    name: 'DEL in a field value',
    input: `${OK}X-A: a\x7fb\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 23 },
  },
  {
    name: 'a 0x1f control character in a field value',
    input: `${OK}X-A: a\x1fb\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 23 },
  },
];

/**
 * A CR must be followed by LF, and is refused at its own offset as soon as the next byte shows it is not:
 * before the line ends, before the stream ends, and before errors that only a whole line reveals.
 */
const rejectingBareCr: WireCase[] = [
  {
    name: 'a CR and a byte where the blank line should be',
    input: `${OK}Content-Length: 1\r\n\rX`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 36 },
  },
  {
    name: 'a bare CR in a field value that has no line end yet',
    input: `${OK}X-A: a\rb`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 23 },
  },
  {
    name: 'a bare CR in a status line that has no line end yet',
    input: 'HTTP/1.1 200 O\rK',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 14 },
  },
  {
    name: 'a CR and a byte right after the status code',
    input: 'HTTP/1.1 201\rX',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 12 },
  },
  {
    name: 'a bare CR after an error that only the whole status line shows',
    input: 'HTTP/1.0 200 O\rK\r\nContent-Length: 0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 14 },
  },
  {
    name: 'a CR and a byte after a chunk size',
    input: `${CHUNKED}5\rX`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 48 },
  },
  {
    name: 'a bare CR in a trailer field',
    input: `${CHUNKED}0\r\nX-T: a\rb`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 56 },
  },
  {
    name: 'a CR and a byte where the blank line after the trailers should be',
    input: `${CHUNKED}0\r\n\rX`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 50 },
  },
  {
    name: 'a bare CR in the second message',
    input: `${OK}Content-Length: 2\r\n\r\nok${OK}\rX`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', accepted: [ok('ok')], offset: 57 },
  },
  {
    name: 'a bare CR as the last byte within maxHeaderBytes',
    input: `${OK}X-A: a\rb`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', limits: { maxHeaderBytes: 24 }, offset: 23 },
  },
  {
    name: 'a bare CR past maxHeaderBytes',
    input: `${OK}X-A: ab\rc`,
    outcome: { reject: 'ERR_WIRE_LIMIT', limits: { maxHeaderBytes: 24 }, offset: 24 },
  },
];

// Content-Length and Transfer-Encoding are judged when the head is complete: the offset is its blank line.
const rejectingFraming: WireCase[] = [
  {
    name: 'a Content-Length list of equal values',
    input: `${OK}Content-Length: 5, 5\r\n\r\nhello`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 39 },
  },
  {
    name: 'two Content-Length lines with the same value',
    input: `${OK}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 36 },
  },
  {
    name: 'two Content-Length lines with different values',
    input: `${OK}Content-Length: 5\r\ncontent-length: 3\r\n\r\nhello`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 36 },
  },
  {
    name: 'a sixteen-digit Content-Length',
    input: `${OK}Content-Length: 0000000000000005\r\n\r\nhello`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 51 },
  },
  {
    name: 'a negative Content-Length',
    input: `${OK}Content-Length: -1\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 37 },
  },
  {
    name: 'a Content-Length with a plus sign',
    input: `${OK}Content-Length: +5\r\n\r\nhello`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 37 },
  },
  {
    name: 'a hex Content-Length',
    input: `${OK}Content-Length: 0x5\r\n\r\nhello`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 38 },
  },
  {
    name: 'an empty Content-Length',
    input: `${OK}Content-Length:\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 34 },
  },
  {
    name: 'a space inside Content-Length',
    input: `${OK}Content-Length: 1 2\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 38 },
  },
  {
    name: 'a decimal Content-Length',
    input: `${OK}Content-Length: 5.0\r\n\r\nhello`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 38 },
  },
  {
    name: 'Transfer-Encoding: gzip, chunked',
    input: `${OK}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 51 },
  },
  {
    name: 'Transfer-Encoding: identity',
    input: `${OK}Transfer-Encoding: identity\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 46 },
  },
  {
    name: 'Transfer-Encoding: chunked, chunked',
    input: `${OK}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 54 },
  },
  {
    name: 'two Transfer-Encoding lines',
    input: `${OK}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 45 },
  },
  {
    name: 'Content-Length and Transfer-Encoding together',
    input: `${OK}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 64 },
  },
  {
    name: 'Transfer-Encoding and then Content-Length',
    input: `${OK}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 64 },
  },
  {
    name: 'no Content-Length, no chunked and no Connection: close',
    input: `${OK}X-A: 1\r\n\r\nbody`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 25 },
  },
  {
    name: 'Connection: keep-alive does not delimit a body',
    input: `${OK}Connection: keep-alive\r\n\r\nbody`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 41 },
  },
  {
    name: 'a 204 with a non-zero Content-Length',
    input: 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 44 },
  },
  {
    name: 'a 204 with Transfer-Encoding',
    input: 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 53 },
  },
  {
    name: 'a 304 with Transfer-Encoding',
    input: 'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 55 },
  },
  {
    name: 'a body longer than its Content-Length',
    input: `${OK}Content-Length: 3\r\n\r\nhello\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', accepted: [ok('hel')], offset: 41 },
  },
];

const rejectingChunks: WireCase[] = [
  {
    name: 'a chunk size that is not hex',
    input: `${CHUNKED}g\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 47 },
  },
  {
    name: 'an empty chunk-size line',
    input: `${CHUNKED}\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 47 },
  },
  {
    name: 'a space before the chunk size',
    input: `${CHUNKED} 5\r\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 47 },
  },
  {
    name: 'a 0x prefix on the chunk size',
    input: `${CHUNKED}0x5\r\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 48 },
  },
  {
    name: 'a chunk size of 2^53, past MAX_SAFE_INTEGER',
    input: `${CHUNKED}20000000000000\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 60 },
  },
  {
    name: 'a chunk size of seventeen hex digits',
    input: `${CHUNKED}FFFFFFFFFFFFFFFFF\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 60 },
  },
  {
    name: 'the largest safe chunk size is accepted, and its short data is incomplete',
    input: `${CHUNKED}1FFFFFFFFFFFFF\r\nabc`,
    outcome: { reject: 'ERR_WIRE_INCOMPLETE', offset: 66 },
  },
  {
    name: 'whitespace after the chunk size without an extension',
    input: `${CHUNKED}5 \r\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 49 },
  },
  {
    name: 'an empty chunk extension',
    input: `${CHUNKED}5;\r\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 49 },
  },
  {
    name: 'a chunk extension without a name',
    input: `${CHUNKED}5;=v\r\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 49 },
  },
  {
    name: 'a chunk extension with an empty value',
    input: `${CHUNKED}5;a=\r\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 51 },
  },
  {
    name: 'an unterminated quoted-string chunk extension',
    input: `${CHUNKED}5;a="x\r\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 53 },
  },
  {
    name: 'a control character in a quoted-string chunk extension',
    input: `${CHUNKED}5;a="\x01"\r\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 52 },
  },
  {
    name: 'an escaped control character in a quoted-string chunk extension',
    input: `${CHUNKED}5;a="\\\x01"\r\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 53 },
  },
  {
    name: 'a space inside a token chunk-extension value',
    input: `${CHUNKED}5;a=b c\r\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 53 },
  },
  {
    name: 'a non-token byte in a chunk-extension name',
    input: `${CHUNKED}5;a@b=1\r\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 50 },
  },
  {
    name: 'chunk data longer than its size',
    input: `${CHUNKED}3\r\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 53 },
  },
  {
    name: 'chunk data followed by a bare LF',
    input: `${CHUNKED}5\r\nhello\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 55 },
  },
  {
    name: 'chunk data followed by CR and no LF',
    input: `${CHUNKED}5\r\nhello\rX0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 56 },
  },
  {
    name: 'a bare LF after the chunk size',
    input: `${CHUNKED}5\nhello\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 48 },
  },
  {
    name: 'a bare LF after the last chunk',
    input: `${CHUNKED}0\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 48 },
  },
  {
    name: 'a chunk-size line of 4097 bytes',
    input: `${CHUNKED}${chunkLineOfSize(4097)}Z\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_LIMIT', offset: 47 + 4096 },
  },
  {
    name: 'Content-Length in the trailers',
    input: `${CHUNKED}0\r\nContent-Length: 5\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 50 },
  },
  {
    name: 'Transfer-Encoding in the trailers',
    input: `${CHUNKED}0\r\nTransfer-Encoding: chunked\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 50 },
  },
  {
    name: 'Connection in the trailers',
    input: `${CHUNKED}0\r\nConnection: close\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 50 },
  },
  {
    name: 'Trailer in the trailers',
    input: `${CHUNKED}0\r\nTrailer: X-T\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 50 },
  },
  {
    name: 'obs-fold in the trailers',
    input: `${CHUNKED}0\r\nX-T: 1\r\n 2\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 58 },
  },
  {
    name: 'a bare LF in the trailers',
    input: `${CHUNKED}0\r\nX-T: 1\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 56 },
  },
  {
    name: 'an invalid trailer field name',
    input: `${CHUNKED}0\r\nX T: 1\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', offset: 51 },
  },
];

const rejectingLimits: WireCase[] = [
  {
    name: 'a head one byte over maxHeaderBytes',
    input: headOfSize(65),
    outcome: { reject: 'ERR_WIRE_LIMIT', limits: { maxHeaderBytes: 64 }, offset: 64 },
  },
  {
    name: 'a field line over maxHeaderBytes, before its line ends',
    input: `${OK}X-Pad: ${'p'.repeat(100)}`,
    outcome: { reject: 'ERR_WIRE_LIMIT', limits: { maxHeaderBytes: 64 }, offset: 64 },
  },
  {
    name: 'more fields than maxHeaderCount',
    input: `${OK}X-A: 1\r\nX-B: 2\r\nX-C: 3\r\nContent-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_LIMIT', limits: { maxHeaderCount: 3 }, offset: 41 },
  },
  {
    name: 'a Content-Length over maxBodyBytes',
    input: `${OK}Content-Length: 5\r\n\r\nhello`,
    outcome: { reject: 'ERR_WIRE_LIMIT', limits: { maxBodyBytes: 4 }, offset: 36 },
  },
  {
    name: 'a chunked body over maxBodyBytes',
    input: `${CHUNKED}3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_LIMIT', limits: { maxBodyBytes: 4 }, offset: 59 },
  },
  {
    name: 'a close-delimited body over maxBodyBytes',
    input: `${OK}Connection: close\r\n\r\nhello`,
    outcome: { reject: 'ERR_WIRE_LIMIT', limits: { maxBodyBytes: 4 }, offset: 42 },
  },
  {
    name: 'a trailer section over maxHeaderBytes',
    input: `${CHUNKED}0\r\nX-T: ${'t'.repeat(70)}\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_LIMIT', limits: { maxHeaderBytes: 64 }, offset: 50 + 64 },
  },
  {
    name: 'more trailer fields than maxHeaderCount',
    input: `${CHUNKED}0\r\nX-1: 1\r\nX-2: 2\r\nX-3: 3\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_LIMIT', limits: { maxHeaderCount: 2 }, offset: 66 },
  },
];

const rejectingStreams: WireCase[] = [
  {
    name: 'a byte after a Connection: close message',
    input: `${OK}Connection: close\r\nContent-Length: 2\r\n\r\nhiX`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', accepted: [ok('hi')], offset: 59 },
  },
  {
    name: 'a message after a 204 with Connection: close',
    input: `HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n${OK}Content-Length: 0\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', accepted: [{ status: 204, body: '' }], offset: 46 },
  },
  {
    name: 'a CRLF after a chunked Connection: close message',
    input: `${OK}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', accepted: [ok('hi')], offset: 78 },
  },
  {
    name: 'the end of the stream in the status line',
    input: 'HTTP/1.1 200',
    outcome: { reject: 'ERR_WIRE_INCOMPLETE', offset: 12 },
  },
  {
    name: 'the end of the stream after the status line',
    input: OK,
    outcome: { reject: 'ERR_WIRE_INCOMPLETE', offset: 17 },
  },
  {
    name: 'the end of the stream before the blank line',
    input: `${OK}Content-Length: 0\r\n`,
    outcome: { reject: 'ERR_WIRE_INCOMPLETE', offset: 36 },
  },
  {
    name: 'the end of the stream between CR and LF of the blank line',
    input: `${OK}Content-Length: 0\r\n\r`,
    outcome: { reject: 'ERR_WIRE_INCOMPLETE', offset: 37 },
  },
  {
    name: 'the end of the stream in a Content-Length body',
    input: `${OK}Content-Length: 5\r\n\r\nhel`,
    outcome: { reject: 'ERR_WIRE_INCOMPLETE', offset: 41 },
  },
  {
    name: 'the end of the stream in a chunk-size line',
    input: `${CHUNKED}5`,
    outcome: { reject: 'ERR_WIRE_INCOMPLETE', offset: 48 },
  },
  {
    name: 'the end of the stream in chunk data',
    input: `${CHUNKED}5\r\nhel`,
    outcome: { reject: 'ERR_WIRE_INCOMPLETE', offset: 53 },
  },
  {
    name: 'the end of the stream between chunk data and its CRLF',
    input: `${CHUNKED}5\r\nhello`,
    outcome: { reject: 'ERR_WIRE_INCOMPLETE', offset: 55 },
  },
  {
    name: 'the end of the stream before the last chunk',
    input: `${CHUNKED}5\r\nhello\r\n`,
    outcome: { reject: 'ERR_WIRE_INCOMPLETE', offset: 57 },
  },
  {
    name: 'the end of the stream in the trailer section',
    input: `${CHUNKED}0\r\n`,
    outcome: { reject: 'ERR_WIRE_INCOMPLETE', offset: 50 },
  },
  {
    name: 'the end of the stream in a second message',
    input: `${OK}Content-Length: 2\r\n\r\nok${OK}`,
    outcome: { reject: 'ERR_WIRE_INCOMPLETE', accepted: [ok('ok')], offset: 57 },
  },
  {
    name: 'an interim response after a good message',
    input: `${OK}Content-Length: 2\r\n\r\nokHTTP/1.1 100 Continue\r\n\r\n`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', accepted: [ok('ok')], offset: 49 },
  },
  {
    name: 'a bad chunk in the third of four messages',
    input:
      `${OK}Content-Length: 3\r\n\r\none${CHUNKED}3\r\ntwo\r\n0\r\n\r\n` +
      `${CHUNKED}3\r\nthree\r\n0\r\n\r\n${OK}Content-Length: 4\r\n\r\nfour`,
    outcome: { reject: 'ERR_WIRE_SYNTAX', accepted: [ok('one'), ok('two')], offset: 41 + 60 + 53 },
  },
];

/** The corpus, in a stable order. */
export const wireCases: readonly WireCase[] = [
  ...accepting,
  ...rejectingStatusLines,
  ...rejectingLines,
  ...rejectingBareCr,
  ...rejectingFraming,
  ...rejectingChunks,
  ...rejectingLimits,
  ...rejectingStreams,
];
