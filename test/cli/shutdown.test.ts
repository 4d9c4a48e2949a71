// SIGTERM with a request in flight: the proxy stops taking connections, lets the response finish within
// --shutdown-timeout, cuts it past that, and its access line says which; then the transforms go and it exits 0.
// During the drain every response says `Connection: close` and its connection closes after it, idle kept-alive
// connections close at once, and a request that still comes on a kept-alive connection gets a 503.
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveFetch } from '../../src/cli/node-http.ts';
import { kill, type Running, sendRaw, startProxy, startPython, transformsOf } from '../_cli.ts';
import { exists, fixture, waitFor, within } from '../_utils.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let python: Running & { url: string };
const proxies: Running[] = [];
const directory = mkdtempSync(join(tmpdir(), 'subprocess-transform-shutdown-'));

beforeAll(async () => {
  python = await startPython();
});

afterAll(async () => {
  for (const proxy of proxies) await kill(proxy);
  await kill(python);
  gatedUpstream?.closeAllConnections();
  gatedUpstream?.close();
  rmSync(directory, { recursive: true, force: true });
});

/** The access lines of `stdout`, their milliseconds as `Nms`. */
function accessLog(stdout: string): string[] {
  return [...stdout.matchAll(/^(?:GET|PUT) \S+ \d{3} \d+ \d+ms \w+$/gm)].map((line) =>
    line[0].replace(/ \d+ms /, ' Nms '),
  );
}

async function start(args: string[]): Promise<Running & { url: string }> {
  const proxy = await startProxy(['--upstream', python.url, '--log', '--processes', '1', ...args]);
  proxies.push(proxy);
  return proxy;
}

const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

describe('the proxy on SIGTERM', () => {
  it('lets a request in flight finish, logs it as sent, and exits 0 with no transform left', async () => {
    const proxy = await start([
      '--content-type',
      'application/json',
      '--',
      process.execPath,
      fixture('upper.mjs'),
    ]);
    const pid = proxy.child.pid as number;
    const file = join(directory, 'release');
    const waiting = python.stdout().split('waiting').length;
    const path = `/wait?file=${encodeURIComponent(file)}`;
    const answer = sendRaw(proxy.url, request(path));
    // The upstream holds the request until the file exists: it is in flight when the signal comes.
    expect(await waitFor(() => python.stdout().split('waiting').length > waiting, 10_000)).toBe(true);
    const transforms = transformsOf(pid);
    proxy.child.kill('SIGTERM');
    expect(await waitFor(() => proxy.stderr().includes('SIGTERM, shutting down'), 10_000)).toBe(true);
    writeFileSync(file, '');
    const response = await answer;
    expect([response.status, response.body]).toEqual([200, '{"WAITED":"YES"}']);
    expect(await within(proxy.exited, 30_000)).toBe(0);
    expect(accessLog(proxy.stdout())).toEqual([`GET ${path} 200 16 Nms transformed`]);
    expect(await waitFor(() => transforms.every((child) => !exists(child)), 10_000)).toBe(true);
    expect(existsSync(file)).toBe(true);
  });

  it('cuts a request still in flight past --shutdown-timeout: the client gets nothing, the line says 000 shutdown', async () => {
    const proxy = await start([
      '--shutdown-timeout',
      '300',
      '--',
      process.execPath,
      fixture('slow-render.mjs'),
    ]);
    const answer = sendRaw(proxy.url, request('/json'));
    // slow-render takes 60 s: the response is still pending when the bound runs out.
    expect(await waitFor(() => proxy.stderr().includes('rendering'), 10_000)).toBe(true);
    proxy.child.kill('SIGTERM');
    const response = await within(answer, 30_000);
    expect(response).toEqual({ status: Number.NaN, headers: [], body: '' });
    expect(await within(proxy.exited, 30_000)).toBe(0);
    expect(accessLog(proxy.stdout())).toEqual(['GET /json 000 0 Nms shutdown']);
  });
});

/** A gate of the upstream below: `arrived` once its request reaches the upstream, which waits for `release()`. */
interface Gate {
  arrived: Promise<void>;
  release: () => void;
}

let gatedUpstream: Server | undefined;
let gatedUpstreamUrl: string | undefined;
const gates = new Map<string, { arrive: () => void; released: Promise<void> } & Gate>();

function gateOf(name: string): Gate & { arrive: () => void; released: Promise<void> } {
  let gate = gates.get(name);
  if (gate === undefined) {
    let arrive = (): void => {};
    let release = (): void => {};
    const arrived = new Promise<void>((resolve) => {
      arrive = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    gate = { arrived, arrive, released, release };
    gates.set(name, gate);
  }
  return gate;
}

/**
 * An upstream in this process: `/head/NAME` sends its head and `first\n`, then `last\n` once NAME is released;
 * `/whole/NAME` sends nothing before NAME is released, then `whole\n`; anything else gets `quick\n` at once.
 */
async function startGatedUpstream(): Promise<string> {
  gatedUpstream = createServer(async (request, response) => {
    const [, kind, name = ''] = (request.url ?? '').split('/');
    const gate = gateOf(name);
    if (kind === 'head') {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.write('first\n');
      gate.arrive();
      await gate.released;
      response.end('last\n');
    } else if (kind === 'whole') {
      gate.arrive();
      await gate.released;
      response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '6' });
      response.end('whole\n');
    } else {
      response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '6' });
      response.end('quick\n');
    }
  });
  gatedUpstream.listen(0, '127.0.0.1');
  await once(gatedUpstream, 'listening');
  const { port } = gatedUpstream.address() as { port: number };
  gatedUpstreamUrl = `http://127.0.0.1:${port}`;
  return gatedUpstreamUrl;
}

/** A raw keep-alive connection: every byte it received, and how it ended. */
interface RawConnection {
  socket: Socket;
  received: () => string;
  /** Resolves once the server closed it: `'end'` for a clean close, else the error's code. */
  closed: Promise<string>;
  send: (text: string) => Promise<void>;
}

async function openConnection(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let received = '';
  socket.setEncoding('latin1').on('data', (text: string) => {
    received += text;
  });
  const closed = new Promise<string>((resolve) => {
    socket.once('end', () => resolve('end'));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  await once(socket, 'connect');
  return {
    socket,
    received: () => received,
    closed,
    send: (text) =>
      new Promise((resolve, reject) => socket.write(text, 'latin1', (e) => (e ? reject(e) : resolve()))),
  };
}

/** The response of `/head/NAME`, its head sent kept alive before the signal. */
const STREAMED = [
  'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nDate: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n',
  'Transfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n5\r\nlast\n\r\n0\r\n\r\n',
].join('');

/** The drain's answer to a request that comes on a kept-alive connection. */
const REFUSAL = [
  'HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncache-control: no-store\r\n',
  'content-type: text/plain; charset=utf-8\r\nretry-after: 1\r\ncontent-length: 14\r\nDate: D\r\n\r\n',
  'shutting down\n',
].join('');

const keptAlive = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

/** The bytes of `received` with each Date field's value as `D`. */
const withoutDate = (received: string): string => received.replace(/^Date: [^\r]*\r\n/gim, 'Date: D\r\n');

/**
 * The CLI runs on Node, Bun and Deno, each with its own node:http. Deno's server (its `server.close()` is a
 * graceful `Deno.serve` shutdown) closes a kept-alive connection as soon as its response ends, so the request a
 * client sends on it then meets that close instead of the 503.
 */
const RUNTIMES = [
  { name: 'node', runtime: [process.execPath], keepsOpen: true },
  { name: 'bun', runtime: [join(ROOT, 'node_modules/.bin/bun')], keepsOpen: true },
  { name: 'deno', runtime: [join(ROOT, 'node_modules/.bin/deno'), 'run', '-A'], keepsOpen: false },
];

describe.each(RUNTIMES)('the proxy draining on SIGTERM under $name, with keep-alive clients', ({
  runtime,
  keepsOpen,
}) => {
  it('closes idle connections, ends each response with Connection: close, and answers a late request with a 503', async () => {
    gates.clear();
    const upstream = gatedUpstreamUrl ?? (await startGatedUpstream());
    const proxy = await startProxy(
      [
        '--upstream',
        upstream,
        '--log',
        '--processes',
        '1',
        '--content-type',
        'application/json',
        '--',
        'cat',
      ],
      runtime,
    );
    proxies.push(proxy);
    // Idle: one exchange done, kept alive.
    const idle = await openConnection(proxy.url);
    await idle.send(keptAlive('/quick'));
    expect(await waitFor(() => idle.received().endsWith('quick\n'), 10_000)).toBe(true);
    // Its response's head went out kept alive before the signal; its body waits on the gate.
    const streaming = await openConnection(proxy.url);
    await streaming.send(keptAlive('/head/streaming'));
    expect(await waitFor(() => streaming.received().endsWith('first\n\r\n'), 10_000)).toBe(true);
    // The same, released during the drain; the client then sends its next request as it sees the end.
    const reused = await openConnection(proxy.url);
    await reused.send(keptAlive('/head/reused'));
    expect(await waitFor(() => reused.received().endsWith('first\n\r\n'), 10_000)).toBe(true);
    // In flight with no head yet when the signal comes.
    const waiting = await openConnection(proxy.url);
    await waiting.send(keptAlive('/whole/waiting'));
    await gateOf('waiting').arrived;
    const before = idle.received();

    proxy.child.kill('SIGTERM');
    expect(await waitFor(() => proxy.stderr().includes('SIGTERM, shutting down'), 10_000)).toBe(true);
    // The idle connection is closed at once, cleanly, with no byte more.
    expect(await within(idle.closed, 10_000)).toBe('end');
    expect(idle.received()).toBe(before);
    // Its head said keep-alive: the connection stays open while other responses are in flight, and the request
    // sent on it after the end gets the 503, then the connection closes.
    gateOf('reused').release();
    if (keepsOpen) {
      expect(await waitFor(() => reused.received().endsWith('\r\n0\r\n\r\n'), 10_000)).toBe(true);
      await reused.send(keptAlive('/late-after'));
    }
    expect(await within(reused.closed, 10_000)).toBe('end');
    expect(withoutDate(reused.received())).toBe(keepsOpen ? `${STREAMED}${REFUSAL}` : STREAMED);
    // A request sent on the kept-alive connection during the drain, behind the response still going there.
    await streaming.send(keptAlive('/late'));
    gateOf('streaming').release();
    expect(await within(streaming.closed, 10_000)).toBe('end');
    expect(withoutDate(streaming.received())).toBe(`${STREAMED}${REFUSAL}`);
    gateOf('waiting').release();
    expect(await within(waiting.closed, 10_000)).toBe('end');
    expect(withoutDate(waiting.received())).toBe(
      'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 6\r\ncontent-type: text/plain\r\nDate: D\r\n\r\nwhole\n',
    );
    expect(await within(proxy.exited, 30_000)).toBe(0);
    expect(accessLog(proxy.stdout())).toEqual([
      'GET /quick 200 6 Nms passed',
      'GET /head/reused 200 11 Nms passed',
      ...(keepsOpen ? ['GET /late-after 503 14 Nms shutdown'] : []),
      'GET /head/streaming 200 11 Nms passed',
      'GET /late 503 14 Nms shutdown',
      'GET /whole/waiting 200 6 Nms passed',
    ]);
  });
});

describe('serveFetch while closing', () => {
  it('answers a request that comes on a kept-alive connection with Connection: close, then closes it', async () => {
    gates.clear();
    const server = await serveFetch(
      (request) => {
        const [, kind, name = ''] = new URL(request.url).pathname.split('/');
        if (kind !== 'head') return new Response('after\n');
        const body = new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode('first\n'));
            await gateOf(name).released;
            controller.enqueue(new TextEncoder().encode('last\n'));
            controller.close();
          },
        });
        return new Response(body, { headers: { 'content-type': 'text/plain' } });
      },
      { port: 0, host: '127.0.0.1' },
    );
    const connection = await openConnection(server.url);
    await connection.send(keptAlive('/head/first'));
    // Still in flight when the first connection's responses end: the drain is not over then.
    const other = await openConnection(server.url);
    await other.send(keptAlive('/head/other'));
    for (const { received } of [connection, other])
      expect(await waitFor(() => received().endsWith('first\n\r\n'), 10_000)).toBe(true);
    const closed = server.close({ timeout: 30_000 });
    // Sent after close() began, behind the response still going on that connection.
    await connection.send(keptAlive('/after'));
    gateOf('first').release();
    expect(await within(connection.closed, 10_000)).toBe('end');
    expect(withoutDate(connection.received())).toBe(
      [
        STREAMED,
        'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: text/plain;charset=UTF-8\r\n',
        'content-length: 6\r\nDate: D\r\n\r\nafter\n',
      ].join(''),
    );
    gateOf('other').release();
    expect(await within(other.closed, 10_000)).toBe('end');
    expect(withoutDate(other.received())).toBe(STREAMED);
    expect(await within(closed, 10_000)).toBeUndefined();
  });
});
