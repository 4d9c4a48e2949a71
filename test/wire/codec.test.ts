import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  encodeResponse,
  parseResponses,
  type ResponseHead,
  ResponseParser,
  type SerializeInit,
  serializeResponse,
} from '../../src/wire/index.ts';
import {
  BINARY_BODY,
  concat,
  createRandom,
  latin1,
  splitEvery,
  splitRandomly,
  streamOf,
  toBytes,
  toText,
} from './cases.ts';

const MiB = 1024 * 1024;

interface Received {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: string;
}

/** A body that is not complete without waiting: each part comes after a timer. */
function later(parts: (string | Uint8Array)[], delay = 20): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        await sleep(delay);
        const part = parts[next++];
        if (part === undefined) controller.close();
        else controller.enqueue(toBytes(part));
      },
    },
    { highWaterMark: 0 },
  );
}

/** A body that has already ended: every part is queued before anyone reads. */
function ended(parts: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(toBytes(part));
      controller.close();
    },
  });
}

async function readChunks(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

async function serialize(response: Response, init?: SerializeInit): Promise<string> {
  return toText(concat(...(await readChunks(serializeResponse(response, init)))));
}

async function parseAll(stream: ReadableStream<Uint8Array>): Promise<Received[]> {
  const received: Received[] = [];
  for await (const response of parseResponses(stream)) {
    received.push({
      status: response.status,
      statusText: response.statusText,
      headers: [...response.headers],
      body: toText(new Uint8Array(await response.arrayBuffer())),
    });
  }
  return received;
}

async function roundTrip(response: Response, init?: SerializeInit): Promise<Received> {
  const [parsed, ...rest] = await parseAll(serializeResponse(response, init));
  expect(rest).toEqual([]);
  return parsed as Received;
}

/** The heads a ResponseParser reports for `bytes`, to see `context`. */
function parseHeads(bytes: Uint8Array): ResponseHead[] {
  const heads: ResponseHead[] = [];
  const parser = new ResponseParser({ onHead: (head) => heads.push(head), onBody() {}, onMessageEnd() {} });
  parser.push(bytes);
  parser.end();
  return heads;
}

function pattern(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8)) & 0xff;
  return bytes;
}

describe('serializeResponse', () => {
  it('writes a string body with Content-Length, head and body in one chunk', async () => {
    // Node types a string body as text/plain;charset=UTF-8.
    expect(new Response('hi').headers.get('content-type')).toBe('text/plain;charset=UTF-8');
    const chunks = await readChunks(
      serializeResponse(new Response('hi', { status: 201, headers: { 'x-a': '1' } })),
    );
    expect(chunks.map(toText)).toEqual([
      'HTTP/1.1 201 Created\r\nContent-Type: text/plain;charset=UTF-8\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi',
    ]);
  });

  it('writes no framing field and no body for 204 and 304', async () => {
    expect(await serialize(new Response(null, { status: 204, headers: { 'x-a': '1' } }))).toBe(
      'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n',
    );
    expect(await serialize(new Response(null, { status: 304, headers: { etag: '"v1"' } }))).toBe(
      'HTTP/1.1 304 Not Modified\r\nEtag: "v1"\r\n\r\n',
    );
  });

  it('writes Content-Length: 0 for a null body on other statuses', async () => {
    expect(await serialize(new Response(null, { status: 404 }))).toBe(
      'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
    );
  });

  it('uses the statusText, else the standard reason, else an empty reason after the space', async () => {
    expect(await serialize(new Response(null, { status: 500, statusText: 'Oops' }))).toBe(
      'HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n',
    );
    expect(await serialize(new Response(null, { status: 299 }))).toBe(
      'HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n',
    );
  });

  it('writes each Set-Cookie on its own line, fields in sorted order with canonical names', async () => {
    const response = new Response('', {
      headers: [
        ['x-z', 'z'],
        ['set-cookie', 'a=1; Path=/'],
        ['Set-Cookie', 'b=2, c=3; Expires=Wed, 21 Oct 2026 07:28:00 GMT'],
        ['accept-ranges', 'bytes'],
        ['www-authenticate', 'Basic'],
      ],
    });
    expect(await serialize(response)).toBe(
      'HTTP/1.1 200 OK\r\nAccept-Ranges: bytes\r\nContent-Type: text/plain;charset=UTF-8\r\n' +
        'Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2, c=3; Expires=Wed, 21 Oct 2026 07:28:00 GMT\r\n' +
        'Www-Authenticate: Basic\r\nX-Z: z\r\nContent-Length: 0\r\n\r\n',
    );
  });

  it('drops hop-by-hop and framing fields, and the fields Connection names', async () => {
    const response = new Response('x', {
      headers: {
        connection: 'close, X-Drop',
        'keep-alive': 'timeout=5',
        'content-length': '99',
        'transfer-encoding': 'gzip',
        'proxy-authenticate': 'Basic',
        'proxy-connection': 'keep-alive',
        te: 'trailers',
        trailer: 'x-t',
        upgrade: 'h2c',
        'x-drop': '1',
        'x-keep': 'k',
      },
    });
    expect(await serialize(response)).toBe(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=UTF-8\r\nX-Keep: k\r\nContent-Length: 1\r\n\r\nx',
    );
  });

  it('appends init.fields after the response fields and before the framing field', async () => {
    const init = {
      fields: [
        ['Transform-Request-Id', '3'],
        ['Transform-Request-URL', 'http://h/p?q=1'],
      ] as const,
    };
    const bytes = await serialize(new Response(null, { status: 404, headers: { 'x-a': '1' } }), init);
    expect(bytes).toBe(
      'HTTP/1.1 404 Not Found\r\nX-A: 1\r\nTransform-Request-Id: 3\r\n' +
        'Transform-Request-URL: http://h/p?q=1\r\nContent-Length: 0\r\n\r\n',
    );
    const [head] = parseHeads(latin1(bytes));
    expect([...(head?.context ?? [])]).toEqual([
      ['id', '3'],
      ['url', 'http://h/p?q=1'],
    ]);
    expect([...(head?.headers ?? [])]).toEqual([['x-a', '1']]);
  });

  it('leaves out a Transform-* field of the response that init.fields writes too, with fields given as an iterator', async () => {
    const fields = new Map([['Transform-Request-Id', '3']]);
    const response = new Response('x', {
      headers: { 'transform-request-id': 'copied', 'transform-other': 'kept' },
    });
    // An iterator is used up once read: the check for the response's own fields must not read it away.
    expect(await serialize(response, { fields: fields.entries() })).toBe(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=UTF-8\r\nTransform-Other: kept\r\n' +
        'Transform-Request-Id: 3\r\nContent-Length: 1\r\n\r\nx',
    );
  });

  it('chunks a stream that is still being produced', async () => {
    const chunks = await readChunks(serializeResponse(new Response(later(['hello', ' world!']))));
    expect(chunks.map(toText)).toEqual([
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
      '5\r\nhello\r\n',
      '7\r\n world!\r\n',
      '0\r\n\r\n',
    ]);
  });

  it('never writes a zero-length chunk, which would end the body early', async () => {
    const empty = new Uint8Array(0);
    const stream = new ReadableStream<Uint8Array>(
      {
        async start(controller) {
          controller.enqueue(empty);
          await sleep(20);
          for (const part of ['ab', '', '', 'c', '']) controller.enqueue(latin1(part));
          await sleep(20);
          controller.enqueue(empty);
          controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    expect(await serialize(new Response(stream))).toBe(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n',
    );
    expect(await serialize(new Response(later([empty, empty])))).toBe(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
  });

  it('uses Content-Length for a stream that has already ended', async () => {
    expect(await serialize(new Response(ended(['a', '', 'bc'])))).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc',
    );
  });

  it('uses Content-Length for a complete body of exactly 1 MiB and chunks a larger one', async () => {
    const getHead = async (response: Response): Promise<string> => {
      const [first] = await readChunks(serializeResponse(response));
      const text = toText(first ?? new Uint8Array(0));
      return text.slice(0, text.indexOf('\r\n\r\n'));
    };
    expect(await getHead(new Response(pattern(MiB)))).toBe(`HTTP/1.1 200 OK\r\nContent-Length: ${MiB}`);
    const quarters = [0, 1, 2, 3].map(() => pattern(MiB / 4));
    expect(await getHead(new Response(ended(quarters)))).toBe(`HTTP/1.1 200 OK\r\nContent-Length: ${MiB}`);
    expect(await getHead(new Response(pattern(MiB + 1)))).toBe(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked',
    );
    expect(await getHead(new Response(ended([...quarters, latin1('x')])))).toBe(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked',
    );
    expect(await getHead(new Response(later(['x'])))).toBe('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked');
  });

  it('reads ahead no more than maxBufferedBody', async () => {
    expect(await serialize(new Response('hi'), { maxBufferedBody: 1 })).toBe(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '2\r\nhi\r\n0\r\n\r\n',
    );
  });

  it('cancels the response body when the output is cancelled while it waits on the body', async () => {
    const body = new ReadableStream<Uint8Array>({ pull: () => sleep(5), cancel: onCancel });
    let cancelled = false;
    function onCancel(): void {
      cancelled = true;
    }
    const reader = serializeResponse(new Response(body)).getReader();
    const { value } = await reader.read();
    expect(toText(value ?? new Uint8Array(0))).toBe('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
    // The encoder is now waiting on a body that never yields again.
    await sleep(20);
    await reader.cancel();
    expect(cancelled).toBe(true);
  });
});

describe('encodeResponse', () => {
  it('cancels a body it is waiting on when returned early, and writes no last-chunk', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull: () => sleep(5),
      cancel() {
        cancelled = true;
      },
    });
    const batches = encodeResponse(new Response(body));
    await batches.next();
    const waiting = batches.next();
    await sleep(20);
    await expect(batches.return()).resolves.toEqual({ done: true, value: undefined });
    await expect(waiting).resolves.toEqual({ done: true, value: undefined });
    expect(cancelled).toBe(true);
  });

  it('cancels a body it has not started reading when returned early', async () => {
    const body = new ReadableStream<Uint8Array>({ pull: () => sleep(5) });
    const response = new Response(body);
    await encodeResponse(response).return();
    await expect(body.getReader().read()).resolves.toEqual({ done: true, value: undefined });
  });

  it('puts the head and a complete body in one batch, and each chunk with its framing in one batch', async () => {
    const complete: number[] = [];
    for await (const batch of encodeResponse(new Response('hi'))) complete.push(batch.length);
    expect(complete).toEqual([2]);
    const streamed: string[][] = [];
    for await (const batch of encodeResponse(new Response(later(['ab'])))) streamed.push(batch.map(toText));
    expect(streamed).toEqual([
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'],
      ['2\r\n', 'ab', '\r\n'],
      ['0\r\n\r\n'],
    ]);
  });
});

describe('serializeResponse then parseResponses', () => {
  it.each([
    [200, 'OK'],
    [201, 'Created'],
    [404, 'Not Found'],
    [500, 'Internal Server Error'],
  ])('round trips a %i with and without a body', async (status, statusText) => {
    const headers = { 'x-a': '1', 'content-type': 'text/html' };
    expect(await roundTrip(new Response('<p>hé</p>', { status, headers }))).toEqual({
      status,
      statusText,
      headers: [
        ['content-type', 'text/html'],
        ['x-a', '1'],
      ],
      body: toText(new TextEncoder().encode('<p>hé</p>')),
    });
    expect(await roundTrip(new Response(null, { status, headers: { 'x-a': '1' } }))).toEqual({
      status,
      statusText,
      headers: [['x-a', '1']],
      body: '',
    });
  });

  it.each([204, 304])('round trips a %i with no body', async (status) => {
    const responses = parseResponses(
      serializeResponse(new Response(null, { status, headers: { etag: '"v1"' } })),
    );
    const parsed: Response[] = [];
    for await (const response of responses) parsed.push(response);
    expect(parsed.map((response) => [response.status, response.body, [...response.headers]])).toEqual([
      [status, null, [['etag', '"v1"']]],
    ]);
  });

  it('keeps the reason phrase, obs-text included', async () => {
    expect(await roundTrip(new Response('x', { status: 200, statusText: 'Fine \xe9' }))).toMatchObject({
      statusText: 'Fine \xe9',
    });
  });

  it('keeps several Set-Cookie values apart, commas and Expires included', async () => {
    const cookies = ['a=1; Path=/', 'b=2, c=3; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly', 'd="x, y"'];
    const headers = new Headers();
    for (const cookie of cookies) headers.append('set-cookie', cookie);
    const parsed = await roundTrip(new Response(null, { headers }));
    expect(parsed.headers).toEqual(cookies.map((cookie) => ['set-cookie', cookie]));
  });

  it('returns the fields in sorted order', async () => {
    const response = new Response('x', {
      headers: [
        ['z-last', '1'],
        ['a-first', '2'],
        ['m-middle', '3'],
        ['set-cookie', 's=1'],
      ],
    });
    expect((await roundTrip(response)).headers.map(([name]) => name)).toEqual([
      'a-first',
      'content-type',
      'm-middle',
      'set-cookie',
      'z-last',
    ]);
  });

  it('round trips binary bodies holding a message-like sequence, with either framing', async () => {
    expect((await roundTrip(new Response(BINARY_BODY))).body).toBe(toText(BINARY_BODY));
    expect((await roundTrip(new Response(later([BINARY_BODY, '0\r\n\r\n', BINARY_BODY])))).body).toBe(
      toText(concat(BINARY_BODY, '0\r\n\r\n', BINARY_BODY)),
    );
  });

  it('round trips empty bodies, with either framing', async () => {
    expect((await roundTrip(new Response(''))).body).toBe('');
    expect((await roundTrip(new Response(later([])))).body).toBe('');
    expect((await roundTrip(new Response(later([new Uint8Array(0)])))).body).toBe('');
  });

  it('round trips large bodies on both sides of the 1 MiB bound', async () => {
    for (const body of [pattern(MiB), pattern(MiB + 1), pattern(3 * MiB)]) {
      expect((await roundTrip(new Response(body))).body).toBe(toText(body));
    }
  });

  it('drops the context fields it was given from the parsed Response', async () => {
    const parsed = await roundTrip(new Response('x'), { fields: [['Transform-Request-Id', '1']] });
    expect(parsed.headers).toEqual([['content-type', 'text/plain;charset=UTF-8']]);
  });
});

describe('several messages in one stream', () => {
  const createResponses = (): Response[] => [
    new Response('one', { status: 201, headers: { 'x-n': '1' } }),
    new Response(later(['tw', 'o'])),
    new Response(null, { status: 204 }),
    new Response(null, { status: 304, headers: { etag: '"e"' } }),
    new Response(null, { status: 404 }),
    new Response(BINARY_BODY, {
      headers: [
        ['set-cookie', 'a=1, b'],
        ['set-cookie', 'c=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT'],
      ],
    }),
    new Response(later([BINARY_BODY, 'tail']), { status: 500, statusText: 'Broken' }),
    new Response(''),
  ];
  const expected: Received[] = [
    {
      status: 201,
      statusText: 'Created',
      headers: [
        ['content-type', 'text/plain;charset=UTF-8'],
        ['x-n', '1'],
      ],
      body: 'one',
    },
    { status: 200, statusText: 'OK', headers: [], body: 'two' },
    { status: 204, statusText: 'No Content', headers: [], body: '' },
    { status: 304, statusText: 'Not Modified', headers: [['etag', '"e"']], body: '' },
    { status: 404, statusText: 'Not Found', headers: [], body: '' },
    {
      status: 200,
      statusText: 'OK',
      headers: [
        ['set-cookie', 'a=1, b'],
        ['set-cookie', 'c=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT'],
      ],
      body: toText(BINARY_BODY),
    },
    { status: 500, statusText: 'Broken', headers: [], body: toText(concat(BINARY_BODY, 'tail')) },
    { status: 200, statusText: 'OK', headers: [['content-type', 'text/plain;charset=UTF-8']], body: '' },
  ];

  /** The serialised responses one after another in one stream, as a process's stdin would carry them. */
  function serializeAll(responses: Response[]): ReadableStream<Uint8Array> {
    const pending = responses.map((response) => () => serializeResponse(response));
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        for (;;) {
          if (reader === undefined) {
            const next = pending.shift();
            if (next === undefined) return controller.close();
            reader = next().getReader();
          }
          const { done, value } = await reader.read();
          if (!done) return controller.enqueue(value);
          reader = undefined;
        }
      },
    });
  }

  it('parses back in order from the live stream', async () => {
    expect(await parseAll(serializeAll(createResponses()))).toEqual(expected);
  });

  it('parses back in order whole, byte by byte and at random splits', async () => {
    const bytes = concat(...(await readChunks(serializeAll(createResponses()))));
    expect(await parseAll(streamOf([bytes]))).toEqual(expected);
    expect(await parseAll(streamOf(splitEvery(bytes, 1)))).toEqual(expected);
    const random = createRandom(7);
    for (let round = 0; round < 30; round++) {
      expect(await parseAll(streamOf(splitRandomly(bytes, random, 1 + random(80))))).toEqual(expected);
    }
  });
});

describe('parseResponses', () => {
  const head = (length: number): string => `HTTP/1.1 200 OK\r\nContent-Length: ${length}\r\n\r\n`;

  it('discards the rest of an unread body when the next response is requested', async () => {
    const big = pattern(256 * 1024);
    const bytes = concat(head(big.byteLength), big, head(6), 'second');
    const responses = parseResponses(streamOf(splitEvery(bytes, 16 * 1024)));
    const first = (await responses.next()).value as Response;
    const reader = first.body?.getReader();
    const { value } = (await reader?.read()) ?? {};
    expect(value?.byteLength).toBeGreaterThan(0);
    const second = (await responses.next()).value as Response;
    expect(await second.text()).toBe('second');
    await expect(reader?.read()).rejects.toThrow('Body discarded');
    expect((await responses.next()).done).toBe(true);
  });

  it('discards a body nobody started reading', async () => {
    const bytes = concat(head(100_000), pattern(100_000), head(2), 'ok');
    const responses = parseResponses(streamOf(splitEvery(bytes, 4096)));
    const first = (await responses.next()).value as Response;
    const second = (await responses.next()).value as Response;
    expect(await second.text()).toBe('ok');
    await expect(first.arrayBuffer()).rejects.toThrow(TypeError);
  });

  it('reads the source only as fast as the body is read', async () => {
    const piece = 16 * 1024;
    const pieces = 256;
    let pulls = 0;
    const source = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulls++;
          if (pulls === 1) controller.enqueue(latin1(head(piece * pieces)));
          else if (pulls <= pieces + 1) controller.enqueue(pattern(piece));
          else controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    const responses = parseResponses(source);
    const response = (await responses.next()).value as Response;
    await sleep(50);
    // The body's own queue holds 64 KiB: a few pieces, never the whole 4 MiB.
    expect(pulls).toBeLessThanOrEqual(8);
    const reader = response.body?.getReader();
    await reader?.read();
    await sleep(20);
    expect(pulls).toBeLessThanOrEqual(10);
    let received = 0;
    for (;;) {
      const { done, value } = (await reader?.read()) ?? { done: true };
      if (done) break;
      received += value?.byteLength ?? 0;
    }
    expect(received + piece).toBe(piece * pieces);
    expect((await responses.next()).done).toBe(true);
    expect(pulls).toBe(pieces + 2);
  });

  it('does not read past a complete response that was not taken yet', async () => {
    let pulls = 0;
    const source = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulls++;
          if (pulls <= 100) controller.enqueue(latin1('HTTP/1.1 204 No Content\r\n\r\n'));
          else controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    const responses = parseResponses(source);
    expect((await responses.next()).value?.status).toBe(204);
    await sleep(30);
    expect(pulls).toBeLessThanOrEqual(3);
    await responses.return();
  });

  it('fails the body of a response already handed out, then the iteration, with the same error', async () => {
    // The bad bytes come later, so the response is surely handed out first.
    const source = later(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n', 'zz\r\n'], 20);
    const responses = parseResponses(source);
    const response = (await responses.next()).value as Response;
    const bodyError = await response.text().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(bodyError).toMatchObject({ code: 'ERR_WIRE_SYNTAX', offset: 55 });
    await expect(responses.next()).rejects.toBe(bodyError);
  });

  it('withholds a response whose error arrived with its head', async () => {
    const source = streamOf([
      latin1('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n'),
    ]);
    await expect(parseResponses(source).next()).rejects.toMatchObject({ code: 'ERR_WIRE_SYNTAX' });
  });
});
