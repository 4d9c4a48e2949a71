import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LIMITS,
  type ParserEvents,
  parseResponses,
  type ResponseHead,
  ResponseParser,
  WireError,
  type WireLimits,
} from '../../src/wire/index.ts';
import {
  createRandom,
  type ExpectedMessage,
  latin1,
  type Outcome,
  splitAt,
  splitEvery,
  splitRandomly,
  streamOf,
  toBytes,
  toText,
  type WireCase,
  wireCases,
} from './cases.ts';

/** What a test saw of one message: bodies as Latin-1 text, so a mismatch diffs readably. */
interface Received {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: string;
}

interface Run {
  /** Messages whose body was read to its end. */
  messages: Received[];
  error: unknown;
  /** Responses yielded after one whose body failed: must stay 0. */
  yieldedAfterError: number;
}

/** Where to cut in two: every position for small inputs, 50 seeded random ones for large. */
function getSplitPositions(length: number, seed: number): number[] {
  if (length < 300) return Array.from({ length: Math.max(0, length - 1) }, (_, i) => i + 1);
  const random = createRandom(seed);
  return Array.from({ length: 50 }, () => 1 + random(length - 1));
}

async function runParseResponses(chunks: Uint8Array[], limits?: Partial<WireLimits>): Promise<Run> {
  const messages: Received[] = [];
  let error: unknown;
  let bodyError: unknown;
  let yieldedAfterError = 0;
  try {
    for await (const response of parseResponses(streamOf(chunks), { limits })) {
      if (bodyError !== undefined) {
        yieldedAfterError++;
        continue;
      }
      if (response.status === 204 || response.status === 304) expect(response.body).toBeNull();
      let body: Uint8Array;
      try {
        body = new Uint8Array(await response.arrayBuffer());
      } catch (caught) {
        bodyError = caught;
        continue;
      }
      messages.push({
        status: response.status,
        statusText: response.statusText,
        headers: [...response.headers],
        body: toText(body),
      });
    }
  } catch (caught) {
    error = caught;
  }
  // A body that failed is followed by the iteration failing with the same error.
  if (bodyError !== undefined) expect(error).toBe(bodyError);
  return { messages, error, yieldedAfterError };
}

function toReceived(expected: ExpectedMessage, actual: Received | undefined): Received {
  return {
    status: expected.status,
    statusText: expected.statusText ?? actual?.statusText ?? '',
    headers: expected.headers ?? [],
    body: typeof expected.body === 'string' ? expected.body : toText(expected.body),
  };
}

function getExpectedMessages(outcome: Outcome): ExpectedMessage[] {
  return 'accept' in outcome ? outcome.accept : (outcome.accepted ?? []);
}

function expectError(error: unknown, outcome: Outcome, offset: number | undefined): void {
  if ('accept' in outcome) {
    expect(error).toBeUndefined();
    return;
  }
  expect(error).toBeInstanceOf(WireError);
  const wireError = error as WireError;
  expect({ code: wireError.code, offset: wireError.offset }).toEqual({
    code: outcome.reject,
    offset: outcome.offset ?? offset ?? wireError.offset,
  });
}

async function expectRun(chunks: Uint8Array[], outcome: Outcome, offset?: number): Promise<void> {
  const run = await runParseResponses(chunks, outcome.limits);
  const expected = getExpectedMessages(outcome);
  expect(run.messages).toEqual(expected.map((message, i) => toReceived(message, run.messages[i])));
  expect(run.yieldedAfterError).toBe(0);
  expectError(run.error, outcome, offset);
}

interface DirectRun {
  messages: { head: ResponseHead; body: string }[];
  begun: number;
  error: unknown;
}

/** Drive a ResponseParser by hand; after an error, check that every later call throws the same error. */
function runParser(chunks: Uint8Array[], limits?: Partial<WireLimits>): DirectRun {
  const run: DirectRun = { messages: [], begun: 0, error: undefined };
  let head: ResponseHead | undefined;
  let body = '';
  const parser = new ResponseParser(
    {
      onMessageBegin: () => run.begun++,
      onHead(parsed) {
        head = parsed;
        body = '';
      },
      onBody: (view) => {
        body += toText(view);
      },
      onMessageEnd() {
        if (head === undefined) throw new Error('onMessageEnd before onHead');
        run.messages.push({ head, body });
        head = undefined;
      },
    },
    { limits },
  );
  try {
    for (const chunk of chunks) parser.push(chunk);
    parser.end();
  } catch (error) {
    run.error = error;
    expect(() => parser.push(latin1('HTTP/1.1 200 OK\r\n'))).toThrow(error as Error);
    expect(() => parser.end()).toThrow(error as Error);
  }
  return run;
}

function expectDirectRun(chunks: Uint8Array[], outcome: Outcome): void {
  const run = runParser(chunks, outcome.limits);
  const expected = getExpectedMessages(outcome);
  const received = run.messages.map(({ head, body }) => ({
    status: head.status,
    statusText: head.statusText,
    headers: [...head.headers],
    context: [...head.context],
    body,
  }));
  expect(received).toEqual(
    expected.map((message, i) => ({
      ...toReceived(message, received[i]),
      context: message.context ?? [],
    })),
  );
  if ('accept' in outcome) expect(run.begun).toBe(expected.length);
  expectError(run.error, outcome, undefined);
}

describe('wire corpus', () => {
  it('has at least 70 cases with unique names', () => {
    expect(wireCases.length).toBeGreaterThanOrEqual(70);
    expect(new Set(wireCases.map(({ name }) => name)).size).toBe(wireCases.length);
  });

  describe.each(wireCases.map((wireCase, index) => ({ ...wireCase, index })))('$name', ({
    input,
    outcome,
    index,
  }: WireCase & { index: number }) => {
    const bytes = toBytes(input);

    it('parses whole', async () => {
      await expectRun([bytes], outcome);
    });

    it('parses byte by byte', async () => {
      await expectRun(splitEvery(bytes, 1), outcome);
    });

    it('parses split in two at every position', async () => {
      for (const position of getSplitPositions(bytes.byteLength, index + 1)) {
        await expectRun(splitAt(bytes, [position]), outcome);
      }
    });

    it('parses at random splits', async () => {
      const random = createRandom(1000 + index);
      const largest = Math.max(2, Math.min(64, Math.floor(bytes.byteLength / 3)));
      for (let round = 0; round < 10; round++) {
        await expectRun(splitRandomly(bytes, random, largest), outcome);
      }
    });

    it('gives the same events straight from ResponseParser, whole and byte by byte', () => {
      expectDirectRun([bytes], outcome);
      expectDirectRun(splitEvery(bytes, 1), outcome);
    });
  });
});

describe('ResponseParser', () => {
  const byName = (name: string): WireCase => {
    const found = wireCases.find((wireCase) => wireCase.name === name);
    if (found === undefined) throw new Error(`No wire case named ${name}`);
    return found;
  };

  it.each([
    ['NUL in a field value', 0x00],
    ['obs-fold with a space', 0x20],
    ['a space before the colon', 0x20],
    ['a bare LF after a field line', 0x0a],
    ['a non-ASCII byte in a field name', 0xe9],
    ['a control character in the reason phrase', 0x01],
    ['a CR and a byte where the blank line should be', 0x0d],
    ['a bare CR in a trailer field', 0x0d],
    ['chunk data followed by a bare LF', 0x0a],
    ['a byte after a Connection: close message', 0x58],
  ])('names the offending byte: %s', (name, byte) => {
    const bytes = toBytes(byName(name).input);
    for (const chunks of [[bytes], splitEvery(bytes, 1), splitEvery(bytes, 7)]) {
      const { error } = runParser(chunks);
      expect(error).toBeInstanceOf(WireError);
      const { offset, message } = error as WireError;
      expect(bytes[offset]).toBe(byte);
      expect(message).toContain(`(at byte ${offset})`);
    }
  });

  const events: ParserEvents = { onHead() {}, onBody() {}, onMessageEnd() {} };

  it('rejects a head over maxHeaderBytes during the push that crosses the limit, before any line end', () => {
    const head = `HTTP/1.1 200 OK\r\nX-Pad: ${'p'.repeat(DEFAULT_LIMITS.maxHeaderBytes)}`;
    const bytes = latin1(head.slice(0, DEFAULT_LIMITS.maxHeaderBytes + 1));
    const parser = new ResponseParser(events);
    expect(() => parser.push(bytes)).toThrow(
      expect.objectContaining({ code: 'ERR_WIRE_LIMIT', offset: DEFAULT_LIMITS.maxHeaderBytes }),
    );
  });

  it('holds a head of exactly maxHeaderBytes and rejects the next byte', () => {
    const bytes = latin1(`HTTP/1.1 200 OK\r\nX-Pad: ${'p'.repeat(DEFAULT_LIMITS.maxHeaderBytes)}`);
    const parser = new ResponseParser(events);
    parser.push(bytes.subarray(0, DEFAULT_LIMITS.maxHeaderBytes));
    expect(() => parser.push(bytes.subarray(DEFAULT_LIMITS.maxHeaderBytes))).toThrow(
      expect.objectContaining({ code: 'ERR_WIRE_LIMIT', offset: DEFAULT_LIMITS.maxHeaderBytes }),
    );
  });

  it('rejects a status line with no end over maxHeaderBytes', () => {
    const parser = new ResponseParser(events, { limits: { maxHeaderBytes: 100 } });
    parser.push(latin1(`HTTP/1.1 200 ${'x'.repeat(87)}`));
    expect(() => parser.push(latin1('x'))).toThrow(
      expect.objectContaining({ code: 'ERR_WIRE_LIMIT', offset: 100 }),
    );
  });

  it('rejects too many fields as soon as the extra field line arrives', () => {
    const fields = Array.from({ length: DEFAULT_LIMITS.maxHeaderCount + 1 }, (_, i) => `X-${i}: v\r\n`).join(
      '',
    );
    const parser = new ResponseParser(events);
    expect(() => parser.push(latin1(`HTTP/1.1 200 OK\r\n${fields}`))).toThrow(
      expect.objectContaining({ code: 'ERR_WIRE_LIMIT' }),
    );
  });

  it('rejects a streaming body over maxBodyBytes before the message ends', () => {
    const parser = new ResponseParser(events, { limits: { maxBodyBytes: 10 } });
    parser.push(latin1('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n0123456789'));
    expect(() => parser.push(latin1('x'))).toThrow(
      expect.objectContaining({ code: 'ERR_WIRE_LIMIT', offset: 48 }),
    );
  });

  describe('onOverLimit', () => {
    /** Each event as a line: `head <status>`, `body <bytes>`, `end`, `over <code> <message>`. */
    function record(takeOn: boolean): { seen: string[]; events: ParserEvents } {
      const seen: string[] = [];
      const events: ParserEvents = {
        onHead: (head) => seen.push(`head ${head.status}`),
        onBody: (chunk) => seen.push(`body ${toText(chunk)}`),
        onMessageEnd: () => seen.push('end'),
        onOverLimit: (error) => {
          seen.push(`over ${error.code} ${error.message}`);
          return takeOn;
        },
      };
      return { seen, events };
    }
    const overLength = 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n012345';
    const overChunked =
      'HTTP/1.1 201 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n';
    const within = 'HTTP/1.1 202 OK\r\nContent-Length: 4\r\n\r\nwxyz';

    it('taken on, the body is read on to its framed end, and the next message has the limit again', () => {
      const { seen, events } = record(true);
      const parser = new ResponseParser(events, { limits: { maxBodyBytes: 4 } });
      parser.push(latin1(`${overLength}${overChunked}${within}${overLength}`));
      expect(seen).toEqual([
        'head 200',
        'over ERR_WIRE_LIMIT Content-Length 6 larger than 4 bytes (at byte 36)',
        'body 012345',
        'end',
        'head 201',
        'body abc',
        `over ERR_WIRE_LIMIT Body larger than 4 bytes (at byte ${overLength.length + 59})`,
        'body def',
        'end',
        'head 202',
        'body wxyz',
        'end',
        'head 200',
        `over ERR_WIRE_LIMIT Content-Length 6 larger than 4 bytes (at byte ${overLength.length + overChunked.length + within.length + 36})`,
        'body 012345',
        'end',
      ]);
      expect(parser.idle).toBe(true);
    });

    it('not taken on, the error is thrown where it was found', () => {
      const { seen, events } = record(false);
      const parser = new ResponseParser(events, { limits: { maxBodyBytes: 4 } });
      expect(() => parser.push(latin1(`${within}${overChunked}`))).toThrow(
        expect.objectContaining({ code: 'ERR_WIRE_LIMIT', offset: within.length + 59 }),
      );
      expect(seen.at(-1)).toBe(
        `over ERR_WIRE_LIMIT Body larger than 4 bytes (at byte ${within.length + 59})`,
      );
      expect(seen).not.toContain('body def');
    });

    it('without it, a Content-Length over the limit is refused before its head', () => {
      const heads: number[] = [];
      const parser = new ResponseParser(
        { onHead: (head) => heads.push(head.status), onBody() {}, onMessageEnd() {} },
        { limits: { maxBodyBytes: 4 } },
      );
      expect(() => parser.push(latin1(overLength))).toThrow(
        expect.objectContaining({ code: 'ERR_WIRE_LIMIT', offset: 36 }),
      );
      expect(heads).toEqual([]);
    });
  });

  it('throws the same error on every call after an error', () => {
    const parser = new ResponseParser(events);
    let first: unknown;
    try {
      parser.push(latin1('HTTP/1.0 200 OK\r\n'));
    } catch (error) {
      first = error;
    }
    expect(first).toBeInstanceOf(WireError);
    for (const bytes of ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', '', 'x']) {
      expect(() => parser.push(latin1(bytes))).toThrow(first as Error);
    }
    expect(() => parser.end()).toThrow(first as Error);
    expect(parser.idle).toBe(false);
  });

  it('stops on an error thrown by an event handler and throws it again', () => {
    const refused = new Error('refused by the pool');
    const parser = new ResponseParser({
      ...events,
      onHead() {
        throw refused;
      },
    });
    const bytes = latin1('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    expect(() => parser.push(bytes)).toThrow(refused);
    expect(() => parser.push(bytes)).toThrow(refused);
    expect(() => parser.end()).toThrow(refused);
  });

  it('reports the offset of the next byte and whether it is between messages', () => {
    const parser = new ResponseParser(events);
    expect(parser.idle).toBe(true);
    parser.push(latin1('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nh'));
    expect({ idle: parser.idle, offset: parser.offset }).toEqual({ idle: false, offset: 39 });
    parser.push(latin1('i'));
    expect({ idle: parser.idle, offset: parser.offset }).toEqual({ idle: true, offset: 40 });
    parser.end();
  });

  it('validates its limits option', () => {
    expect(() => new ResponseParser(events, { limits: { maxHeaderBytes: 0 } })).toThrow(RangeError);
    expect(() => new ResponseParser(events, { limits: { maxBodyBytes: Number.NaN } })).toThrow(TypeError);
  });
});
