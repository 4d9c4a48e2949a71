// What the CLI proxy puts on the wire: the request framing its upstream sees, and the fields its client gets.
// Clients are raw sockets, so the test controls every byte; the upstream is a real keep-alive node:http server.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxyHandler, isProxyError } from '../../src/cli/proxy.ts';
import { kill, type RawResponse, type Running, sendRaw, startProxy } from '../_cli.ts';
import { fixture, waitFor } from '../_utils.ts';

/** One request as the upstream's parser read it. */
interface Seen {
  /** Which upstream connection it came on, counted from 1. */
  connection: number;
  method: string;
  url: string;
  contentLength: string | undefined;
  transferEncoding: string | undefined;
  /** The body bytes read so far. */
  body: string;
  /** Undefined while the body is being read; then whether the parser found its end (false: the socket closed). */
  complete: boolean | undefined;
}

/**
 * A keep-alive node:http upstream that records every request it parses, in order of arrival, and what it
 * could not parse. `answer` decides when each request is answered.
 */
function createRecordingUpstream(answer: (request: IncomingMessage, response: ServerResponse) => void): {
  server: Server;
  seen: Seen[];
} {
  const seen: Seen[] = [];
  let connections = 0;
  const connectionOf = new WeakMap<Socket, number>();
  const server = createServer({ keepAlive: true }, (request, response) => {
    const record: Seen = {
      connection: connectionOf.get(request.socket) as number,
      method: request.method as string,
      url: request.url as string,
      contentLength: request.headers['content-length'],
      transferEncoding: request.headers['transfer-encoding'],
      body: '',
      complete: undefined,
    };
    seen.push(record);
    request.setEncoding('latin1').on('data', (text: string) => {
      record.body += text;
    });
    request.on('end', () => {
      record.complete = true;
    });
    request.on('close', () => {
      record.complete ??= false;
    });
    answer(request, response);
  });
  server.on('connection', (socket: Socket) => connectionOf.set(socket, ++connections));
  // Bytes the parser cannot read as a request are recorded too: a test then sees the desync.
  server.on('clientError', (_error, socket: Socket) => {
    seen.push({
      connection: connectionOf.get(socket) as number,
      method: 'UNPARSABLE',
      url: '',
      contentLength: undefined,
      transferEncoding: undefined,
      body: '',
      complete: true,
    });
    socket.destroy();
  });
  return { server, seen };
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
  });
}

function stopServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

// The attacker's body: a whole request, with a forged address, that must never run upstream.
const SMUGGLED = 'GET /admin HTTP/1.1\r\nHost: upstream\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n';
const INNOCENT = 'GET /innocent HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n';

function chunk(text: string): string {
  return `${text.length.toString(16)}\r\n${text}\r\n`;
}

/** A request of `method` to `path` carrying SMUGGLED as its body, framed as asked. */
function attack(method: string, path: string, framing: 'Content-Length' | 'Transfer-Encoding'): string {
  const body =
    framing === 'Content-Length'
      ? `Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`
      : `Transfer-Encoding: chunked\r\n\r\n${chunk(SMUGGLED.slice(0, 20))}${chunk(SMUGGLED.slice(20))}0\r\n\r\n`;
  return `${method} ${path} HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n${body}`;
}

function text(response: ServerResponse, body: string): void {
  response.setHeader('content-type', 'text/plain');
  response.end(body);
}

describe('proxy request framing: the upstream sees the bytes the client framed, and nothing else', () => {
  const upstream = createRecordingUpstream((request, response) => {
    const answer = `answer to ${request.method} ${request.url}`;
    // `/early`: answered at once, before the body is read, as many servers answer a GET. Others: once read.
    if (request.url === '/admin') text(response, 'admin secrets');
    else if (request.url?.startsWith('/early')) text(response, answer);
    else request.on('end', () => text(response, answer));
  });
  let proxy: Running & { url: string };

  beforeAll(async () => {
    const url = await listen(upstream.server);
    proxy = await startProxy(['--upstream', url, '--processes', '1', '--', 'cat']);
  });

  afterAll(async () => {
    await kill(proxy);
    await stopServer(upstream.server);
  });

  /** The attacker's request, then an innocent one once the attacker's answer is in; what the upstream read. */
  async function attackThenInnocent(
    request: string,
  ): Promise<{ attacker: RawResponse; innocent: RawResponse; seen: Seen[] }> {
    const from = upstream.seen.length;
    const attacker = await sendRaw(proxy.url, request);
    const innocent = await sendRaw(proxy.url, INNOCENT);
    const seen = (): Seen[] => upstream.seen.slice(from);
    // An upstream may answer before it has read a body: wait until it is done with both requests.
    await waitFor(() => seen().length >= 2 && seen().every((one) => one.complete !== undefined), 10_000);
    return { attacker, innocent, seen: seen() };
  }

  const innocentSeen = {
    method: 'GET',
    url: '/innocent',
    contentLength: undefined,
    transferEncoding: undefined,
    body: '',
    complete: true,
  };

  it.each([
    ['GET', 'Content-Length'],
    ['HEAD', 'Content-Length'],
    ['DELETE', 'Content-Length'],
    ['OPTIONS', 'Content-Length'],
    ['GET', 'Transfer-Encoding'],
    ['POST', 'Transfer-Encoding'],
  ] as const)('forwards the body of a %s framed by %s as it came', async (method, framing) => {
    const { attacker, innocent, seen } = await attackThenInnocent(attack(method, '/attack', framing));
    expect(seen.map(({ connection, ...request }) => request)).toEqual([
      {
        method,
        url: '/attack',
        contentLength: framing === 'Content-Length' ? String(SMUGGLED.length) : undefined,
        transferEncoding: framing === 'Content-Length' ? undefined : 'chunked',
        body: SMUGGLED,
        complete: true,
      },
      innocentSeen,
    ]);
    const answer = `answer to ${method} /attack`;
    expect(attacker).toEqual({
      status: 200,
      // node:http sends no length with a HEAD answer; cat keeps the fields but the length, set anew.
      headers:
        method === 'HEAD'
          ? ['connection: close', 'content-type: text/plain']
          : ['connection: close', `content-length: ${answer.length}`, 'content-type: text/plain'],
      body: method === 'HEAD' ? '' : answer,
    });
    expect(innocent.status).toBe(200);
    expect(innocent.body).toBe('answer to GET /innocent');
  });

  it.each([
    'Content-Length',
    'Transfer-Encoding',
  ] as const)('never lets an upstream that answers a GET before its body (%s) read the body as a request', async (framing) => {
    const from = upstream.seen.length;
    const attacker = await sendRaw(proxy.url, attack('GET', '/early', framing));
    const innocent = await sendRaw(proxy.url, INNOCENT);
    const seen = upstream.seen.slice(from);
    // The upstream answered at once and the proxy closed that connection: whatever part of the body the
    // upstream read stayed a body, and the innocent request came whole on a connection of its own.
    expect(seen.map((one) => [one.method, one.url, SMUGGLED.startsWith(one.body)])).toEqual([
      ['GET', '/early', true],
      ['GET', '/innocent', true],
    ]);
    expect(seen[1]).toMatchObject(innocentSeen);
    expect(seen[1]?.connection).not.toBe(seen[0]?.connection);
    expect([innocent.status, innocent.body]).toEqual([200, 'answer to GET /innocent']);
    // The attacker's own answer: the upstream's, or the proxy's 502 when the upstream reset the connection
    // with the body still unread (as a server that closes with unread input does).
    expect([
      [200, 'answer to GET /early'],
      [502, 'Bad gateway: the upstream server could not be reached\n'],
    ]).toContainEqual([attacker.status, attacker.body]);
  });

  it('forwards a GET with Content-Length: 0 as it came, and keeps the connection for the next request', async () => {
    const { attacker, innocent, seen } = await attackThenInnocent(
      'GET /early HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
    );
    expect(seen.map(({ connection, ...request }) => request)).toEqual([
      {
        method: 'GET',
        url: '/early',
        contentLength: '0',
        transferEncoding: undefined,
        body: '',
        complete: true,
      },
      innocentSeen,
    ]);
    expect(seen[1]?.connection).toBe(seen[0]?.connection);
    expect([attacker.status, attacker.body]).toEqual([200, 'answer to GET /early']);
    expect([innocent.status, innocent.body]).toEqual([200, 'answer to GET /innocent']);
  });

  it('refuses with 400 a transfer coding it cannot forward as it came', async () => {
    const from = upstream.seen.length;
    const refused = await sendRaw(
      proxy.url,
      'POST /attack HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
    );
    // node:http takes a coding list that ends in chunked; the proxy would forward the bytes under another name.
    expect(refused).toEqual({
      status: 400,
      headers: [
        'cache-control: no-store',
        'connection: close',
        'content-length: 78',
        'content-type: text/plain; charset=utf-8',
      ],
      body: 'Bad request: Transfer-Encoding "gzip, chunked" is not forwarded, only chunked\n',
    });
    expect(upstream.seen.length).toBe(from);
    const innocent = await sendRaw(proxy.url, INNOCENT);
    expect([innocent.status, innocent.body]).toEqual([200, 'answer to GET /innocent']);
  });
});

describe('proxy response fields: the client never sees the upstream connection hop-by-hop fields', () => {
  const upstream = createRecordingUpstream((request, response) => {
    response.setHeader('content-type', request.url === '/json' ? 'application/json' : 'text/plain');
    response.setHeader('connection', 'keep-alive, X-Custom');
    response.setHeader('x-custom', '1');
    response.setHeader('keep-alive', 'timeout=5');
    response.setHeader('proxy-authenticate', 'Basic realm="upstream"');
    response.setHeader('proxy-connection', 'keep-alive');
    response.setHeader('te', 'trailers');
    response.setHeader('trailer', 'X-Checksum');
    response.setHeader('upgrade', 'h2c');
    response.setHeader('x-kept', 'yes');
    response.end(request.url === '/json' ? '{"a":"b"}' : 'plain');
  });
  let proxy: Running & { url: string };

  beforeAll(async () => {
    const url = await listen(upstream.server);
    proxy = await startProxy([
      '--upstream',
      url,
      '--processes',
      '1',
      '--content-type',
      'application/json',
      '--',
      process.execPath,
      fixture('upper.mjs'),
    ]);
  });

  afterAll(async () => {
    await kill(proxy);
    await stopServer(upstream.server);
  });

  it('drops them from a response it passes as it is', async () => {
    const response = await sendRaw(
      proxy.url,
      'GET /text HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n',
    );
    expect(response).toEqual({
      status: 200,
      // The upstream chunked its answer (it announced a trailer): the proxy chunks it to the client too.
      headers: ['connection: close', 'content-type: text/plain', 'transfer-encoding: chunked', 'x-kept: yes'],
      body: 'plain',
    });
  });

  it('drops them from a response it transforms', async () => {
    const response = await sendRaw(
      proxy.url,
      'GET /json HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n',
    );
    expect(response.status).toBe(200);
    expect(response.body).toBe('{"A":"B"}');
    expect(response.headers).toEqual([
      'connection: close',
      'content-length: 9',
      'content-type: application/json',
      'x-kept: yes',
      'x-request: GET http://proxy/json',
      'x-transformed: upper',
    ]);
  });
});

describe('createProxyHandler without node:http bindings', () => {
  const upstream = createRecordingUpstream((request, response) => {
    request.on('end', () => text(response, `answer to ${request.method} ${request.url}`));
  });
  let url: string;

  beforeAll(async () => {
    url = await listen(upstream.server);
  });

  afterAll(async () => {
    await stopServer(upstream.server);
  });

  it('refuses with 400 a length it has no bytes for, as a fetch Request has no GET body', async () => {
    const proxy = createProxyHandler({ upstream: url });
    const response = await proxy(new Request('http://proxy/get', { headers: { 'content-length': '5' } }));
    expect(response.status).toBe(400);
    expect(await response.text()).toBe('Bad request: a GET body cannot be forwarded here\n');
    expect(isProxyError(response)).toBe(true);
    expect(upstream.seen).toEqual([]);
  });

  it('forwards a GET with Content-Length: 0, as Bun and Deno hand it over (no body, no node:http stream)', async () => {
    const proxy = createProxyHandler({ upstream: url });
    const response = await proxy(new Request('http://proxy/empty', { headers: { 'content-length': '0' } }));
    expect([response.status, await response.text()]).toEqual([200, 'answer to GET /empty']);
    expect(upstream.seen.at(-1)).toMatchObject({
      method: 'GET',
      url: '/empty',
      contentLength: '0',
      transferEncoding: undefined,
      body: '',
      complete: true,
    });
  });

  it('takes Transfer-Encoding whatever its case (RFC 9112: codings are case-insensitive)', async () => {
    const proxy = createProxyHandler({ upstream: url });
    const response = await proxy(
      new Request('http://proxy/post', {
        method: 'POST',
        body: 'chunked body',
        headers: { 'transfer-encoding': 'Chunked' },
      }),
    );
    expect([response.status, await response.text()]).toEqual([200, 'answer to POST /post']);
    expect(upstream.seen.at(-1)).toMatchObject({
      method: 'POST',
      url: '/post',
      contentLength: undefined,
      transferEncoding: 'chunked',
      body: 'chunked body',
      complete: true,
    });
  });

  it('chunks a streamed body that came with no length', async () => {
    const proxy = createProxyHandler({ upstream: url });
    const body = new Blob(['streamed ', 'body']).stream();
    const response = await proxy(
      new Request('http://proxy/put', { method: 'PUT', body, duplex: 'half' } as RequestInit),
    );
    expect(await response.text()).toBe('answer to PUT /put');
    expect(upstream.seen.slice(-1).map(({ connection, ...request }) => request)).toEqual([
      {
        method: 'PUT',
        url: '/put',
        contentLength: undefined,
        transferEncoding: 'chunked',
        body: 'streamed body',
        complete: true,
      },
    ]);
  });
});
