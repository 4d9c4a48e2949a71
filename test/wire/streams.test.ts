import { describe, expect, it } from 'vitest';
import {
  ResponseDecoderStream,
  ResponseEncoderStream,
  type SerializeInit,
  serializeResponse,
  WireError,
  type WireLimits,
} from '../../src/wire/index.ts';
import {
  concat,
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
  wireCases,
} from './cases.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

interface Received {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: string;
}

/** Let every promise, stream step and pipe that can move do so: no I/O is involved, so no time is waited. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A stream of the given values, handed out one per read. */
function streamOfValues<T>(values: T[]): ReadableStream<T> {
  let next = 0;
  return new ReadableStream<T>(
    {
      pull(controller) {
        if (next < values.length) controller.enqueue(values[next++] as T);
        else controller.close();
      },
    },
    { highWaterMark: 0 },
  );
}

/** A body that yields nothing until `open()`, then its parts one per read: never complete without waiting. */
function gatedBody(parts: (string | Uint8Array)[]): { stream: ReadableStream<Uint8Array>; open(): void } {
  let open = (): void => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let next = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        await gate;
        const part = parts[next++];
        if (part === undefined) controller.close();
        else controller.enqueue(toBytes(part));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, open };
}

async function readChunks(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

async function encodeAll(responses: Response[], init?: SerializeInit): Promise<Uint8Array[]> {
  return readChunks(streamOfValues(responses).pipeThrough(new ResponseEncoderStream(init)));
}

async function toReceived(response: Response): Promise<Received> {
  return {
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers],
    body: toText(new Uint8Array(await response.arrayBuffer())),
  };
}

interface Run {
  /** Messages whose body was read to its end. */
  messages: Received[];
  error: unknown;
  /** Responses handed out after one whose body failed: must stay 0. */
  afterError: number;
}

/** Decode `chunks`, reading each body whole before the next Response. */
async function decodeAll(chunks: Uint8Array[], limits?: Partial<WireLimits>): Promise<Run> {
  const run: Run = { messages: [], error: undefined, afterError: 0 };
  let bodyError: unknown;
  try {
    for await (const response of streamOf(chunks).pipeThrough(new ResponseDecoderStream({ limits }))) {
      if (bodyError !== undefined) {
        run.afterError++;
        continue;
      }
      try {
        run.messages.push(await toReceived(response));
      } catch (caught) {
        bodyError = caught;
      }
    }
  } catch (caught) {
    run.error = caught;
  }
  // A body that failed is followed by the stream failing with the same error.
  if (bodyError !== undefined) expect(run.error).toBe(bodyError);
  return run;
}

function toExpected(message: ExpectedMessage, actual: Received | undefined): Received {
  return {
    status: message.status,
    statusText: message.statusText ?? actual?.statusText ?? '',
    headers: message.headers ?? [],
    body: typeof message.body === 'string' ? message.body : toText(message.body),
  };
}

async function expectDecoded(chunks: Uint8Array[], outcome: Outcome): Promise<void> {
  const run = await decodeAll(chunks, outcome.limits);
  const expected = 'accept' in outcome ? outcome.accept : (outcome.accepted ?? []);
  expect(run.messages).toEqual(expected.map((message, i) => toExpected(message, run.messages[i])));
  expect(run.afterError).toBe(0);
  if ('accept' in outcome) {
    expect(run.error).toBeUndefined();
    return;
  }
  expect(run.error).toBeInstanceOf(WireError);
  const { code, offset } = run.error as WireError;
  expect({ code, offset }).toEqual({ code: outcome.reject, offset: outcome.offset ?? offset });
}

/** Several messages of every framing, two Set-Cookie fields included: 302 bytes. */
const SMALL_STREAM = concat(
  'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\nhello',
  'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;ext=1\r\nd\r\n0\r\nX-Trailer: t\r\n\r\n',
  'HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx',
  'HTTP/1.1 201 Created\r\nConnection: close\r\n\r\nto the end',
);
const SMALL_MESSAGES: Received[] = [
  {
    status: 200,
    statusText: 'OK',
    headers: [
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ],
    body: 'hello',
  },
  { status: 404, statusText: 'Not Found', headers: [], body: 'abcd' },
  { status: 204, statusText: 'No Content', headers: [['x-a', 'b']], body: '' },
  { status: 200, statusText: 'OK', headers: [], body: '' },
  { status: 200, statusText: 'OK', headers: [], body: 'x' },
  { status: 201, statusText: 'Created', headers: [], body: 'to the end' },
];

describe('ResponseEncoderStream and ResponseDecoderStream', () => {
  const oneMiB = new Uint8Array(MiB).map((_, i) => (i * 7) % 256);

  function makeResponses(): { responses: Response[]; streamed: { open(): void } } {
    const cookies = new Headers([
      ['set-cookie', 'a=1; Path=/'],
      ['set-cookie', 'b=2; HttpOnly'],
      ['content-type', 'text/html'],
    ]);
    const streamed = gatedBody([oneMiB.subarray(0, 300 * KiB), oneMiB.subarray(300 * KiB)]);
    const responses = [
      new Response(new Uint8Array(0)),
      new Response('x', { status: 201, statusText: 'Made' }),
      new Response(oneMiB.slice(), { headers: cookies }),
      new Response(null, { status: 204, headers: { 'x-empty': 'yes' } }),
      new Response(streamed.stream, { status: 404, headers: { 'content-type': 'application/octet-stream' } }),
      new Response(null, { status: 304, headers: { etag: '"v1"' } }),
      new Response(''),
    ];
    return { responses, streamed };
  }

  const expected: Received[] = [
    { status: 200, statusText: 'OK', headers: [], body: '' },
    { status: 201, statusText: 'Made', headers: [['content-type', 'text/plain;charset=UTF-8']], body: 'x' },
    {
      status: 200,
      statusText: 'OK',
      headers: [
        ['content-type', 'text/html'],
        ['set-cookie', 'a=1; Path=/'],
        ['set-cookie', 'b=2; HttpOnly'],
      ],
      body: toText(oneMiB),
    },
    { status: 204, statusText: 'No Content', headers: [['x-empty', 'yes']], body: '' },
    {
      status: 404,
      statusText: 'Not Found',
      headers: [['content-type', 'application/octet-stream']],
      body: toText(oneMiB),
    },
    { status: 304, statusText: 'Not Modified', headers: [['etag', '"v1"']], body: '' },
    { status: 200, statusText: 'OK', headers: [['content-type', 'text/plain;charset=UTF-8']], body: '' },
  ];

  it('round-trip several responses: 0 B, 1 B, 1 MiB, streamed, 204, 304, two Set-Cookie', async () => {
    const { responses, streamed } = makeResponses();
    const decoded = streamOfValues(responses)
      .pipeThrough(new ResponseEncoderStream())
      .pipeThrough(new ResponseDecoderStream());
    const received: Received[] = [];
    for await (const response of decoded) {
      // The streamed body's head went out before any of its bytes existed.
      if (response.status === 404) streamed.open();
      received.push(await toReceived(response));
    }
    expect(received).toEqual(expected);
  });

  it('encode exactly what serializeResponse does, with Content-Length when free and chunked otherwise', async () => {
    const first = makeResponses();
    const encoding = encodeAll(first.responses);
    await settle();
    first.streamed.open();
    const encoded = toText(concat(...(await encoding)));

    const second = makeResponses();
    let serialized = '';
    for (const response of second.responses) {
      const reading = readChunks(serializeResponse(response));
      if (response.status === 404) {
        await settle();
        second.streamed.open();
      }
      serialized += toText(concat(...(await reading)));
    }
    expect(encoded).toBe(serialized);
    expect(encoded).toContain('Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; HttpOnly\r\n');
    expect(encoded).toContain(`Content-Length: ${MiB}\r\n\r\n`);
    expect(encoded).toContain(
      'HTTP/1.1 404 Not Found\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n4b000\r\n',
    );
    expect(encoded).toContain('HTTP/1.1 204 No Content\r\nX-Empty: yes\r\n\r\nHTTP/1.1 404 Not Found\r\n');
    expect(encoded).toMatch(
      /\r\n0\r\n\r\nHTTP\/1\.1 304 Not Modified\r\nEtag: "v1"\r\n\r\nHTTP\/1\.1 200 OK\r\n/i,
    );
  });
});

describe('ResponseEncoderStream', () => {
  it('emits one chunk per batch: a complete message in one, a streamed body chunk by chunk', async () => {
    const streamed = gatedBody(['ab', 'cde']);
    const reader = streamOfValues([new Response('hi'), new Response(streamed.stream)])
      .pipeThrough(new ResponseEncoderStream())
      .getReader();
    const chunks: string[] = [];
    const read = async (): Promise<void> => {
      const { done, value } = await reader.read();
      if (!done) chunks.push(toText(value));
    };
    await read();
    await read();
    streamed.open();
    for (let i = 0; i < 4; i++) await read();
    expect(chunks).toEqual([
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 2\r\n\r\nhi',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
      '2\r\nab\r\n',
      '3\r\ncde\r\n',
      '0\r\n\r\n',
    ]);
    expect(await reader.read()).toEqual({ done: true, value: undefined });
  });

  it('writes each response completely before taking the next', async () => {
    const first = gatedBody(['1', '2']);
    let taken = 0;
    const responses = new ReadableStream<Response>(
      {
        pull(controller) {
          taken++;
          if (taken === 1) controller.enqueue(new Response(first.stream));
          else if (taken === 2) controller.enqueue(new Response('next'));
          else controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    const reading = readChunks(responses.pipeThrough(new ResponseEncoderStream()));
    await settle();
    // The pipe may hold the next Response, but the encoder does not start it while the first one is open.
    first.open();
    const text = toText(concat(...(await reading)));
    expect(text).toBe(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n1\r\n1\r\n2\r\n0\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 4\r\n\r\nnext',
    );
  });

  it('reads a body only as fast as its readable is read', async () => {
    let produced = 0;
    let cancelled: unknown;
    const endless = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          produced += 16 * KiB;
          controller.enqueue(new Uint8Array(16 * KiB));
        },
        cancel(reason) {
          cancelled = reason;
        },
      },
      { highWaterMark: 0 },
    );
    const reader = streamOfValues([new Response(endless)])
      .pipeThrough(new ResponseEncoderStream())
      .getReader();
    const { value: first } = await reader.read();
    // The look-ahead stops past maxBufferedBody (1 MiB): the body goes out chunked.
    expect(toText(first?.subarray(0, 50) ?? new Uint8Array())).toContain('Transfer-Encoding: chunked');
    await settle();
    const afterFirst = produced;
    expect(afterFirst).toBeLessThanOrEqual(MiB + 32 * KiB);
    for (let i = 0; i < 10; i++) {
      await reader.read();
      await settle();
      expect(produced).toBeLessThanOrEqual(afterFirst + (i + 2) * 16 * KiB);
    }
    const reason = new Error('client left');
    await reader.cancel(reason);
    expect(cancelled).toBe(reason);
  });

  it('reads ahead no body while nobody reads', async () => {
    let pulled = 0;
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(latin1('x'));
      },
      cancel() {
        cancelled = true;
      },
    });
    const encoder = new ResponseEncoderStream();
    const writer = encoder.writable.getWriter();
    const writing = writer.write(new Response(body));
    await settle();
    // Only the stream's own high-water mark (one chunk) was filled.
    expect(pulled).toBeLessThanOrEqual(1);
    await encoder.readable.cancel();
    await writing;
    expect(cancelled).toBe(true);
    await expect(writer.closed).rejects.toBeUndefined();
  });

  it('writes the same fields after every response, even from a generator', async () => {
    function* fields(): Generator<[string, string]> {
      yield ['Transform-Request-Id', 'abc'];
    }
    const text = toText(
      concat(...(await encodeAll([new Response(null), new Response(null)], { fields: fields() }))),
    );
    expect(text).toBe('HTTP/1.1 200 OK\r\nTransform-Request-Id: abc\r\nContent-Length: 0\r\n\r\n'.repeat(2));
  });

  it('sends a body chunked when it is over maxBufferedBody', async () => {
    const text = toText(concat(...(await encodeAll([new Response('hi')], { maxBufferedBody: 0 }))));
    expect(text).toBe(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
    );
  });

  it('validates its options', () => {
    expect(() => new ResponseEncoderStream({ maxBufferedBody: -1 })).toThrow(RangeError);
    expect(() => new ResponseEncoderStream({ maxBufferedBody: 1.5 })).toThrow(RangeError);
    expect(() => new ResponseEncoderStream({ maxBufferedBody: '1' as unknown as number })).toThrow(TypeError);
    expect(() => new ResponseEncoderStream(null as unknown as SerializeInit)).toThrow(TypeError);
    expect(() => new ResponseEncoderStream({ maxBufferedBody: Number.POSITIVE_INFINITY })).not.toThrow();
  });

  it('errors its readable, cut short, when a body fails', async () => {
    const failure = new Error('upstream broke');
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          pulls++;
          if (pulls === 1) controller.enqueue(latin1('part'));
          else {
            await settle();
            controller.error(failure);
          }
        },
      },
      { highWaterMark: 0 },
    );
    const chunks: string[] = [];
    let error: unknown;
    try {
      for await (const chunk of streamOfValues([new Response(body), new Response('never')]).pipeThrough(
        new ResponseEncoderStream(),
      )) {
        chunks.push(toText(chunk));
      }
    } catch (caught) {
      error = caught;
    }
    expect(error).toBe(failure);
    expect(chunks.join('')).toBe('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npart\r\n');
  });

  it('refuses what is not a Response', async () => {
    const encoder = new ResponseEncoderStream();
    const writer = encoder.writable.getWriter();
    await expect(writer.write('HTTP/1.1' as unknown as Response)).rejects.toThrow(TypeError);
    await expect(encoder.readable.getReader().read()).rejects.toThrow(TypeError);
  });

  it('cancels the body being sent when the writer aborts', async () => {
    let cancelled: unknown;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(latin1('a'));
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const encoder = new ResponseEncoderStream();
    const writer = encoder.writable.getWriter();
    const reader = encoder.readable.getReader();
    void writer.write(new Response(body)).catch(() => {});
    expect(toText((await reader.read()).value ?? new Uint8Array())).toBe(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n',
    );
    const reason = new Error('handler gave up');
    await writer.abort(reason);
    expect(cancelled).toBe(reason);
    await expect(reader.read()).rejects.toBe(reason);
  });
});

describe('ResponseDecoderStream', () => {
  it('decodes a multi-message stream whole, byte by byte and split in two at every position', async () => {
    const outcome = { accept: SMALL_MESSAGES };
    await expectDecoded([SMALL_STREAM], outcome);
    await expectDecoded(splitEvery(SMALL_STREAM, 1), outcome);
    for (let position = 1; position < SMALL_STREAM.byteLength; position++) {
      await expectDecoded(splitAt(SMALL_STREAM, [position]), outcome);
    }
  });

  const cases = wireCases.map((wireCase, index) => ({ ...wireCase, index }));
  it.each(cases)('corpus: $name, whole, byte by byte and at random splits', async ({
    input,
    outcome,
    index,
  }) => {
    const bytes = toBytes(input);
    await expectDecoded([bytes], outcome);
    await expectDecoded(splitEvery(bytes, bytes.byteLength <= 4 * KiB ? 1 : 997), outcome);
    const random = createRandom(2000 + index);
    await expectDecoded(splitRandomly(bytes, random, Math.max(2, Math.floor(bytes.byteLength / 3))), outcome);
  });

  it('hands out a Response as soon as its head is complete, and none for a partial head', async () => {
    const decoder = new ResponseDecoderStream();
    const writer = decoder.writable.getWriter();
    const reader = decoder.readable.getReader();
    let taken: Response | undefined;
    const reading = reader.read().then(({ value }) => {
      taken = value;
    });
    void writer.write(latin1('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r'));
    await settle();
    expect(taken).toBeUndefined();
    void writer.write(latin1('\n'));
    await reading;
    expect(taken?.status).toBe(200);
    void writer.write(latin1('body'));
    expect(await taken?.text()).toBe('body');
    await writer.close();
    expect(await reader.read()).toEqual({ done: true, value: undefined });
  });

  it('errors the body and the stream when the input ends mid-message', async () => {
    const chunks = [latin1('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'), latin1('only')];
    const reader = streamOf(chunks).pipeThrough(new ResponseDecoderStream()).getReader();
    const { value } = await reader.read();
    const bodyError = await value?.text().catch((error: unknown) => error);
    expect(bodyError).toMatchObject({ code: 'ERR_WIRE_INCOMPLETE', offset: 43 });
    await expect(reader.read()).rejects.toBe(bodyError);
  });

  it('keeps its limits: head, field count and body', async () => {
    const head = 'HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 3\r\n\r\nabc';
    const limited = async (limits: Partial<WireLimits>) =>
      (await decodeAll([latin1(head)], limits)).error as WireError;
    expect(await limited({ maxHeaderBytes: 40 })).toMatchObject({ code: 'ERR_WIRE_LIMIT', offset: 40 });
    expect(await limited({ maxHeaderCount: 2 })).toMatchObject({ code: 'ERR_WIRE_LIMIT' });
    expect(await limited({ maxBodyBytes: 2 })).toMatchObject({ code: 'ERR_WIRE_LIMIT' });
    const run = await decodeAll([latin1(head)], { maxHeaderBytes: 55, maxHeaderCount: 3, maxBodyBytes: 3 });
    expect(run.messages.map(({ body }) => body)).toEqual(['abc']);
    // A streamed body over the limit: the Response went out, its body fails, never ends cleanly.
    const chunked = splitEvery(
      latin1('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'),
      1,
    );
    const streamed = await decodeAll(chunked, { maxBodyBytes: 4 });
    expect(streamed.messages).toEqual([]);
    expect(streamed.error).toMatchObject({ code: 'ERR_WIRE_LIMIT', offset: 54 });
  });

  it('validates its limits', () => {
    expect(() => new ResponseDecoderStream({ limits: { maxHeaderBytes: 0 } })).toThrow(RangeError);
    expect(() => new ResponseDecoderStream({ limits: { maxBodyBytes: Number.NaN } })).toThrow(TypeError);
  });

  /** A source of `bytes` in 16 KiB chunks that counts what it handed out. */
  function countingSource(bytes: Uint8Array): { stream: ReadableStream<Uint8Array>; pulled(): number } {
    let pulled = 0;
    const chunks = splitEvery(bytes, 16 * KiB);
    let next = 0;
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          const chunk = chunks[next++];
          if (chunk === undefined) return controller.close();
          pulled += chunk.byteLength;
          controller.enqueue(chunk);
        },
      },
      { highWaterMark: 0 },
    );
    return { stream, pulled: () => pulled };
  }

  // What may be queued besides what the reader took: the body's 64 KiB, the chunk that crossed it, the chunk
  // in the pipe's hands and a spare: far below the 1 MiB body.
  const BOUND = 64 * KiB + 3 * 16 * KiB;

  it('reads its input only as fast as a slow reader reads the body', async () => {
    const body = new Uint8Array(MiB).fill(0x61);
    const source = countingSource(
      concat(`HTTP/1.1 200 OK\r\nContent-Length: ${MiB}\r\n\r\n`, body, 'HTTP/1.1 204 No Content\r\n\r\n'),
    );
    const reader = source.stream.pipeThrough(new ResponseDecoderStream()).getReader();
    const { value: response } = await reader.read();
    const headBytes = 38 + String(MiB).length;
    const bodyReader = (response?.body as ReadableStream<Uint8Array>).getReader();
    let consumed = 0;
    for (;;) {
      await settle();
      expect(source.pulled() - headBytes - consumed).toBeLessThanOrEqual(BOUND);
      const { done, value } = await bodyReader.read();
      if (done) break;
      consumed += value.byteLength;
    }
    expect(consumed).toBe(MiB);
    expect((await reader.read()).value?.status).toBe(204);
    expect((await reader.read()).done).toBe(true);
  });

  it('reads no further while a Response waits to be taken', async () => {
    const message = 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx';
    const source = countingSource(latin1(message.repeat(20_000)));
    const decoder = new ResponseDecoderStream();
    const piping = source.stream.pipeTo(decoder.writable);
    await settle();
    expect(source.pulled()).toBeLessThanOrEqual(2 * 16 * KiB);
    const reader = decoder.readable.getReader();
    let count = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      expect(await value.text()).toBe('x');
      count++;
    }
    expect(count).toBe(20_000);
    await piping;
  });

  it('drains a cancelled body and needs no reading of a body that arrived whole', async () => {
    const big = 'b'.repeat(200 * KiB);
    const chunks = splitEvery(
      latin1(
        `HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}` +
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n' +
          `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${(100 * KiB).toString(16)}\r\n${big.slice(0, 100 * KiB)}\r\n0\r\n\r\n` +
          'HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhello',
      ),
      4 * KiB,
    );
    const reader = streamOf(chunks).pipeThrough(new ResponseDecoderStream()).getReader();
    const first = (await reader.read()).value as Response;
    const firstBody = (first.body as ReadableStream<Uint8Array>).getReader();
    await firstBody.read();
    await firstBody.cancel();
    const small = (await reader.read()).value as Response;
    const third = (await reader.read()).value as Response;
    await third.body?.cancel();
    const last = (await reader.read()).value as Response;
    expect({ status: last.status, body: await last.text() }).toEqual({ status: 202, body: 'hello' });
    expect(await small.text()).toBe('abcde');
    expect((await reader.read()).done).toBe(true);
  });

  it('holds the next Response while a large body is neither read nor cancelled', async () => {
    const chunks = splitEvery(
      concat(
        `HTTP/1.1 200 OK\r\nContent-Length: ${MiB}\r\n\r\n`,
        new Uint8Array(MiB),
        'HTTP/1.1 204 No Content\r\n\r\n',
      ),
      16 * KiB,
    );
    const reader = streamOf(chunks).pipeThrough(new ResponseDecoderStream()).getReader();
    const first = (await reader.read()).value as Response;
    let next: Response | undefined;
    const reading = reader.read().then(({ value }) => {
      next = value;
    });
    await settle();
    expect(next).toBeUndefined();
    await first.body?.cancel();
    await reading;
    expect(next?.status).toBe(204);
  });

  it('errors the body being received and the writable when the reader cancels', async () => {
    const decoder = new ResponseDecoderStream();
    const writer = decoder.writable.getWriter();
    const reader = decoder.readable.getReader();
    void writer.write(latin1('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    const response = (await reader.read()).value as Response;
    const reason = new Error('no more');
    await reader.cancel(reason);
    await expect(response.text()).rejects.toThrow(TypeError);
    await expect(writer.write(latin1('defg'))).rejects.toBe(reason);
  });

  it('refuses input that is not bytes', async () => {
    const decoder = new ResponseDecoderStream();
    const writer = decoder.writable.getWriter();
    await expect(writer.write('HTTP/1.1 200 OK\r\n' as unknown as Uint8Array)).rejects.toThrow(TypeError);
    await expect(decoder.readable.getReader().read()).rejects.toThrow(TypeError);
  });

  it('errors the stream with the reason of an aborted writer, never completing the partial message', async () => {
    const decoder = new ResponseDecoderStream();
    const writer = decoder.writable.getWriter();
    void writer.write(latin1('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na'));
    await settle();
    const reason = new Error('source failed');
    const aborting = writer.abort(reason);
    const reader = decoder.readable.getReader();
    expect((await reader.read()).value?.status).toBe(204);
    // Node withholds the partial message; Deno may hand its head out first: then its body fails instead.
    const outcome = await reader.read().then(
      (result) =>
        (result.value?.text() ?? Promise.resolve('ended')).then(
          () => 'completed',
          (error: unknown) => error,
        ),
      (error: unknown) => error,
    );
    expect(outcome).toBe(reason);
    await aborting;
  });
});
