// The access line says what the client got: the status and bytes that reached it, 000 and 0 when the server broke
// the connection before the head, and `shutdown` for a response cut by close(). serveFetch on a real socket,
// clients on node:net; the bodies are the inputs of each case.
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createAccessLog } from '../../src/cli/access-log.ts';
import { type Served, serveFetch } from '../../src/cli/node-http.ts';
import { waitFor } from '../_utils.ts';

const servers: Served[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await server.close({ timeout: 0 });
});

/** serveFetch of `handler` behind an access log; `lines()` the lines so far, their milliseconds as `Nms`. */
async function serveLogged(
  handler: (request: Request) => Response | Promise<Response>,
): Promise<{ server: Served; lines: () => string[] }> {
  const written: string[] = [];
  const log = createAccessLog((line) => written.push(line));
  const server = await serveFetch(
    log.wrap(async (request) => handler(request)),
    { port: 0, host: '127.0.0.1' },
  );
  servers.push(server);
  return { server, lines: () => written.map((line) => line.replace(/ \d+ms /, ' Nms ').trimEnd()) };
}

/** A raw GET: the bytes received so far, and all of them once the server closes the connection. */
function requestRaw(url: string, path: string): { received: () => string; closed: Promise<string> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  const received = (): string => Buffer.concat(chunks).toString('latin1');
  return { received, closed: once(socket, 'close').then(received) };
}

/** A raw GET; resolves with every byte received once the server closes the connection. */
function getRaw(url: string, path: string): Promise<string> {
  return requestRaw(url, path).closed;
}

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('the access log of a body that fails', () => {
  it('says 000 and 0 bytes when the body fails at its first read: the client got a closed connection', async () => {
    const { server, lines } = await serveLogged(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              controller.error(new Error('boom'));
            },
          }),
        ),
    );
    expect(await getRaw(server.url, '/first')).toBe('');
    expect(await waitFor(() => lines().length === 1)).toBe(true);
    expect(lines()).toEqual(['GET /first 000 0 Nms failed']);
  });

  it('says 000 and 0 bytes when a chunk was read ahead but the body failed before the head went out', async () => {
    // @hono/node-server reads what is ready before it writes the head: here a chunk, then the failure.
    const { server, lines } = await serveLogged(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(encode('partial'));
            },
            pull(controller) {
              controller.error(new Error('boom'));
            },
          }),
        ),
    );
    expect(await getRaw(server.url, '/ahead')).toBe('');
    expect(await waitFor(() => lines().length === 1)).toBe(true);
    expect(lines()).toEqual(['GET /ahead 000 0 Nms failed']);
  });

  it('says the status and the bytes sent when the body fails after the head reached the client', async () => {
    let body: ReadableStreamDefaultController<Uint8Array> | undefined;
    const { server, lines } = await serveLogged(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              body = controller;
            },
          }),
        ),
    );
    const client = requestRaw(server.url, '/late');
    // Nothing to read yet: the server sends the head alone; the body fails once the client has a chunk.
    expect(await waitFor(() => client.received().startsWith('HTTP/1.1 200 OK\r\n'))).toBe(true);
    body?.enqueue(encode('partial'));
    expect(await waitFor(() => client.received().includes('partial'))).toBe(true);
    body?.error(new Error('boom'));
    await client.closed;
    expect(await waitFor(() => lines().length === 1)).toBe(true);
    expect(lines()).toEqual(['GET /late 200 7 Nms failed']);
  });
});

describe('the access log of a shutdown', () => {
  it('lets a response in flight finish within the bound, and its line says so', async () => {
    let release: (() => void) | undefined;
    const { server, lines } = await serveLogged(async () => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return new Response('done');
    });
    const received = getRaw(server.url, '/drained');
    expect(await waitFor(() => release !== undefined)).toBe(true);
    const closed = server.close({ timeout: 60_000 });
    release?.();
    expect(await received).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\ndone$/);
    await closed;
    expect(lines()).toEqual(['GET /drained 200 4 Nms transformed']);
  });

  it('cuts what is still going when the bound runs out: 000 before the head, the status sent after it', async () => {
    let pendingSeen = false;
    const { server, lines } = await serveLogged((request) => {
      if (new URL(request.url).pathname === '/pending') {
        pendingSeen = true;
        return new Promise<Response>(() => {});
      }
      return new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encode('hello'));
          },
        }),
      );
    });
    const pending = requestRaw(server.url, '/pending');
    const stalled = requestRaw(server.url, '/stalled');
    expect(await waitFor(() => pendingSeen && stalled.received().includes('hello'))).toBe(true);
    await server.close({ timeout: 100 });
    expect(await pending.closed).toBe('');
    expect(await stalled.closed).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n5\r\nhello\r\n$/);
    expect(await waitFor(() => lines().length === 2)).toBe(true);
    expect(lines().sort()).toEqual(['GET /pending 000 0 Nms shutdown', 'GET /stalled 200 5 Nms shutdown']);
  });
});
