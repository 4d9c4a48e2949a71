import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kill, type Running, readMemory, sendRaw, startProxy, startPython, transformsOf } from '../_cli.ts';
import { fixture, waitFor } from '../_utils.ts';

const UPPER = ['--', process.execPath, fixture('upper.mjs')];
const ACCESS_LINE = /^(GET|PUT) (\S+) (\d{3}) (\d+) (\d+)ms (transformed|passed|failed|aborted)$/gm;

let python: Running & { url: string };

beforeAll(async () => {
  python = await startPython();
});

afterAll(async () => {
  await kill(python);
});

/** A request with node:http, as curl makes it: `Expect: 100-continue`, the body sent only after 100 Continue. */
async function upload(
  url: string,
  chunk: Buffer,
  count: number,
): Promise<{ continued: boolean; status: number; body: string }> {
  const request = httpRequest(url, {
    method: 'PUT',
    headers: { expect: '100-continue', 'content-length': String(chunk.length * count) },
  });
  let continued = false;
  request.once('continue', async () => {
    continued = true;
    for (let i = 0; i < count; i++) {
      if (!request.write(chunk)) await once(request, 'drain');
    }
    request.end();
  });
  const [response] = (await once(request, 'response')) as [IncomingMessage];
  let body = '';
  for await (const part of response) body += part;
  return { continued, status: response.statusCode as number, body };
}

function sha256(chunk: Buffer, count: number): string {
  const hash = createHash('sha256');
  for (let i = 0; i < count; i++) hash.update(chunk);
  return hash.digest('hex');
}

function accessLines(stdout: string): RegExpExecArray[] {
  return [...stdout.matchAll(ACCESS_LINE)];
}

/** The access lines of `stdout` whole, but for the milliseconds, which read `Nms`. */
function accessLog(stdout: string): string[] {
  return accessLines(stdout).map((line) => line[0].replace(/ \d+ms /, ' Nms '));
}

/** A port nothing listens on: bound, then released. */
async function getDeadPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('proxy in front of a Python http.server', () => {
  let proxy: Running & { url: string };

  beforeAll(async () => {
    proxy = await startProxy([
      '--upstream',
      python.url,
      '--processes',
      '2',
      '--content-type',
      'application/json',
      '--log',
      ...UPPER,
    ]);
  });

  afterAll(async () => {
    await kill(proxy);
  });

  it('transforms the upstream JSON and logs one access line saying so', async () => {
    const response = await fetch(`${proxy.url}/json?q=1`);
    const body = await response.text();
    expect(response.status).toBe(200);
    expect(body).toBe('{"HELLO": "WORLD", "PATH": "/JSON?Q=1"}');
    expect(await waitFor(() => accessLines(proxy.stdout()).some((line) => line[2] === '/json?q=1'))).toBe(
      true,
    );
    const line = accessLines(proxy.stdout()).find((match) => match[2] === '/json?q=1') as RegExpExecArray;
    expect([line[1], line[3], line[4], line[6]]).toEqual([
      'GET',
      '200',
      String(Buffer.byteLength(body)),
      'transformed',
    ]);
  });

  it('appends the client address to X-Forwarded-For and sets X-Forwarded-Proto and -Host', async () => {
    const response = await fetch(`${proxy.url}/headers`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    const seen = (await response.json()) as Record<string, string>;
    expect(seen['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe(new URL(proxy.url).host);
    expect(seen.host).toBe(new URL(python.url).host);
    expect(await waitFor(() => accessLines(proxy.stdout()).some((line) => line[2] === '/headers'))).toBe(
      true,
    );
    const line = accessLines(proxy.stdout()).find((match) => match[2] === '/headers') as RegExpExecArray;
    expect(line[6]).toBe('passed');
  });

  it('adds the client address when the client sent no X-Forwarded-For', async () => {
    const seen = (await (await fetch(`${proxy.url}/headers`)).json()) as Record<string, string>;
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.expect).toBeUndefined();
  });

  it('passes a response it does not transform with the upstream length, for GET and HEAD alike', async () => {
    for (const method of ['GET', 'HEAD']) {
      const direct = await fetch(`${python.url}/nothing-here`, { method });
      const passed = await fetch(`${proxy.url}/nothing-here`, { method });
      expect(passed.status).toBe(direct.status);
      expect(direct.headers.get('content-length')).toMatch(/^\d+$/);
      expect(passed.headers.get('content-length')).toBe(direct.headers.get('content-length'));
      expect(await passed.text()).toBe(await direct.text());
    }
  });

  it('never lets the body of a GET run as a request, though http.server ignores a GET body', async () => {
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: upstream\r\n\r\n';
    const response = await sendRaw(
      proxy.url,
      `GET /json HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    );
    expect([response.status, response.body]).toEqual([200, '{"HELLO": "WORLD", "PATH": "/JSON"}']);
    // The next request: on a kept connection, http.server would have run the body as a request before it.
    const next = await fetch(`${proxy.url}/missing`);
    expect(next.status).toBe(404);
    expect(await next.text()).toBe('not found');
    expect(await waitFor(() => python.stdout().includes('not found /missing\n'))).toBe(true);
    expect(python.stdout()).not.toContain('/smuggled');
  });

  it('takes an upload sent with Expect: 100-continue, as curl sends it', async () => {
    const chunk = Buffer.alloc(65_536, 'abc');
    const result = await upload(`${proxy.url}/upload`, chunk, 16);
    expect(result).toEqual({
      continued: true,
      status: 200,
      body: `${chunk.length * 16} ${sha256(chunk, 16)}`,
    });
  });

  it('replaces the transform processes on SIGHUP while a request is in flight, and that request succeeds', async () => {
    const pid = proxy.child.pid as number;
    expect(await waitFor(() => transformsOf(pid).length === 2)).toBe(true);
    const before = transformsOf(pid);
    const file = join(tmpdir(), `subprocess-transform-sighup-${process.pid}`);
    rmSync(file, { force: true });
    const waiting = proxy.stdout().length;
    const pythonWaiting = python.stdout().split('waiting').length;
    const pending = fetch(`${proxy.url}/wait?file=${encodeURIComponent(file)}`);
    // The request is at the upstream, inside the proxy: now reload.
    expect(await waitFor(() => python.stdout().split('waiting').length > pythonWaiting)).toBe(true);
    proxy.child.kill('SIGHUP');
    const replaced = (): boolean => {
      const now = transformsOf(pid);
      return now.length === 2 && now.every((child) => !before.includes(child));
    };
    expect(await waitFor(replaced, 10_000)).toBe(true);
    writeFileSync(file, '');
    try {
      const response = await pending;
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('{"WAITED":"YES"}');
    } finally {
      rmSync(file, { force: true });
    }
    expect(proxy.child.exitCode).toBeNull();
    expect(proxy.stdout().length).toBeGreaterThan(waiting);
  });
});

describe('proxy when things go wrong', () => {
  const proxies: Running[] = [];

  afterAll(async () => {
    for (const proxy of proxies) await kill(proxy);
  });

  async function start(args: string[]): Promise<Running & { url: string }> {
    const proxy = await startProxy(args);
    proxies.push(proxy);
    return proxy;
  }

  it('answers its own 502 for a dead upstream, never through the transform, even without --content-type', async () => {
    const proxy = await start(['--upstream', `http://127.0.0.1:${await getDeadPort()}`, '--log', ...UPPER]);
    const response = await fetch(`${proxy.url}/json`);
    expect(response.status).toBe(502);
    expect(response.headers.get('x-transformed')).toBeNull();
    expect(await response.text()).toBe('Bad gateway: the upstream server could not be reached\n');
    expect(await waitFor(() => accessLines(proxy.stdout()).length === 1)).toBe(true);
    expect(accessLines(proxy.stdout())[0]?.slice(1, 4)).toEqual(['GET', '/json', '502']);
    expect(accessLines(proxy.stdout())[0]?.[6]).toBe('passed');
  });

  it('answers 504 when the upstream is silent for --upstream-timeout', async () => {
    const proxy = await start(['--upstream', python.url, '--upstream-timeout', '300', ...UPPER]);
    const started = performance.now();
    const response = await fetch(`${proxy.url}/silent`);
    expect(response.status).toBe(504);
    expect(await response.text()).toMatch(/^Gateway timeout/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('leaves a line on stderr when the transform crashes, and answers 502', async () => {
    const proxy = await start([
      '--upstream',
      python.url,
      '--',
      process.execPath,
      fixture('crash-before-output.mjs'),
    ]);
    const response = await fetch(`${proxy.url}/crash`);
    expect(response.status).toBe(502);
    await response.text();
    expect(await waitFor(() => /subprocess-transform: .*exited with code 1/.test(proxy.stderr()))).toBe(true);
  });

  it('answers 503 beyond --max-queue', async () => {
    const proxy = await start([
      '--upstream',
      python.url,
      '--processes',
      '1',
      '--max-queue',
      '0',
      '--',
      process.execPath,
      fixture('slow-render.mjs'),
    ]);
    const first = new AbortController();
    const busy = fetch(`${proxy.url}/json`, { signal: first.signal }).catch(() => undefined);
    expect(await waitFor(() => proxy.stderr().includes('rendering'), 10_000)).toBe(true);
    const response = await fetch(`${proxy.url}/json`);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).not.toBeNull();
    first.abort();
    await busy;
  });

  it('accepts a transform that never echoes the id with --no-require-request-id', async () => {
    const proxy = await start([
      '--upstream',
      python.url,
      '--no-require-request-id',
      '--',
      process.execPath,
      fixture('no-request-id.mjs'),
    ]);
    const response = await fetch(`${proxy.url}/json`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('{"hello": "world", "path": "/json"}');
  });
});

describe('proxy --log says what became of each response', () => {
  const proxies: Running[] = [];

  afterAll(async () => {
    for (const proxy of proxies) await kill(proxy);
  });

  async function start(fixtureName: string, ...args: string[]): Promise<Running & { url: string }> {
    const proxy = await startProxy([
      '--upstream',
      python.url,
      '--log',
      '--content-type',
      'application/json',
      '--',
      process.execPath,
      fixture(fixtureName),
      ...args,
    ]);
    proxies.push(proxy);
    return proxy;
  }

  it('says transformed, passed, and failed for a transform that failed before its answer', async () => {
    const proxy = await start('crash-before-output.mjs');
    const transformed = await (await fetch(`${proxy.url}/json`)).text();
    const passed = await (await fetch(`${proxy.url}/missing`)).text();
    const response = await fetch(`${proxy.url}/crash`);
    expect(response.status).toBe(502);
    const failed = await response.text();
    expect(await waitFor(() => accessLog(proxy.stdout()).length === 3)).toBe(true);
    expect(accessLog(proxy.stdout())).toEqual([
      `GET /json 200 ${transformed.length} Nms transformed`,
      `GET /missing 404 ${passed.length} Nms passed`,
      `GET /crash 502 ${failed.length} Nms failed`,
    ]);
  });

  it('says failed for a transform that died in the middle of its answer', async () => {
    // It dies once this file exists: created when the head has reached the client.
    const released = join(mkdtempSync(join(tmpdir(), 'upstream-')), 'released');
    const proxy = await start('crash-mid-body.mjs', released);
    const response = await fetch(`${proxy.url}/crash`);
    expect(response.status).toBe(200);
    writeFileSync(released, '');
    await expect(response.text()).rejects.toThrow();
    expect(await waitFor(() => accessLog(proxy.stdout()).length === 1)).toBe(true);
    expect(accessLog(proxy.stdout())).toEqual(['GET /crash 200 10 Nms failed']);
  });

  it('says aborted, with 499, for a client that left before the answer', async () => {
    const proxy = await start('slow-render.mjs');
    const client = new AbortController();
    const pending = fetch(`${proxy.url}/json`, { signal: client.signal });
    expect(await waitFor(() => proxy.stderr().includes('rendering'), 10_000)).toBe(true);
    client.abort();
    await expect(pending).rejects.toThrow();
    expect(await waitFor(() => accessLog(proxy.stdout()).length === 1)).toBe(true);
    expect(accessLog(proxy.stdout())).toEqual(['GET /json 499 0 Nms aborted']);
  });

  it('says aborted, with the status sent, for a client that left in the middle of the body', async () => {
    const proxy = await start('silent-mid-body.mjs');
    const request = httpRequest(`${proxy.url}/stall`);
    request.end();
    const [response] = (await once(request, 'response')) as [IncomingMessage];
    expect(String((await once(response, 'data'))[0])).toBe('hello');
    request.destroy();
    expect(await waitFor(() => accessLog(proxy.stdout()).length === 1)).toBe(true);
    expect(accessLog(proxy.stdout())).toEqual(['GET /stall 200 5 Nms aborted']);
  });
});

describe('proxy upload memory', () => {
  let proxy: Running & { url: string };

  afterAll(async () => {
    await kill(proxy);
  });

  // Node 24 leaves more garbage uncollected than Node 20 (a 200 MiB upload peaked at +36 MiB on Node 20 and
  // +66 MiB on Node 24): the upload is 400 MiB, so a bound of 96 MiB still proves it streams, not buffers.
  it('takes a 400 MiB upload with Expect intact, its peak RSS under 96 MiB above its start', async () => {
    proxy = await startProxy(['--upstream', python.url, '--content-type', 'application/json', ...UPPER]);
    const pid = proxy.child.pid as number;
    // Warm up the paths an upload takes, then measure from there.
    const warm = Buffer.alloc(1 << 20, 7);
    expect((await upload(`${proxy.url}/upload`, warm, 1)).status).toBe(200);
    const start = readMemory(pid, 'VmRSS');
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) % 251;
    const result = await upload(`${proxy.url}/upload`, chunk, 400);
    expect(result).toEqual({
      continued: true,
      status: 200,
      body: `${400 * chunk.length} ${sha256(chunk, 400)}`,
    });
    const grown = readMemory(pid, 'VmHWM') - start;
    expect(grown).toBeLessThan(96 * 1024 * 1024);
  });
});

describe('proxy --body-filter', () => {
  let proxy: Running & { url: string };

  afterAll(async () => {
    await kill(proxy);
  });

  it('runs jq once per selected response and passes the others', async () => {
    proxy = await startProxy([
      '--upstream',
      python.url,
      '--content-type',
      'application/json',
      '--body-filter',
      '--log',
      '--',
      'jq',
      '-c',
      '{greeting: .hello, path: .path}',
    ]);
    const response = await fetch(`${proxy.url}/json?x=1`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toBe('{"greeting":"world","path":"/json?x=1"}\n');
    const passed = await fetch(`${proxy.url}/headers`);
    expect(passed.headers.get('content-type')).toBe('application/x-seen');
    expect(await passed.json()).toHaveProperty('x-forwarded-proto', 'http');
    expect(await waitFor(() => accessLines(proxy.stdout()).length === 2)).toBe(true);
    expect(accessLines(proxy.stdout()).map((line) => line[6])).toEqual(['transformed', 'passed']);
  });

  it('answers 502 when the filter fails on a body', async () => {
    const response = await fetch(`${proxy.url}/crash`);
    expect(response.status).toBe(502);
    expect(await response.text()).not.toMatch(/crash/);
    expect(await waitFor(() => /subprocess-transform: .*jq.*exited with code/.test(proxy.stderr()))).toBe(
      true,
    );
  });
});

describe('proxy --body-filter with tr and sed', () => {
  const proxies: Running[] = [];

  afterAll(async () => {
    for (const proxy of proxies) await kill(proxy);
  });

  it('runs tr on every response the default selection takes', async () => {
    const proxy = await startProxy(['--upstream', python.url, '--body-filter', '--', 'tr', 'a-z', 'A-Z']);
    proxies.push(proxy);
    const response = await fetch(`${proxy.url}/json`);
    expect(await response.text()).toBe('{"HELLO": "WORLD", "PATH": "/JSON"}');
  });

  it('logs every start failure of the filter with its cause, one line each', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'subprocess-transform-filter-'));
    const filter = join(folder, 'upper-filter');
    writeFileSync(filter, '#!/bin/sh\nexec tr a-z A-Z\n', { mode: 0o755 });
    try {
      const proxy = await startProxy(['--upstream', python.url, '--body-filter', '--', filter]);
      proxies.push(proxy);
      expect(await (await fetch(`${proxy.url}/json`)).text()).toBe('{"HELLO": "WORLD", "PATH": "/JSON"}');
      // It passed the start check; now it is gone.
      rmSync(filter);
      const line = `subprocess-transform: transform "${filter}" could not be started: spawn ${filter} ENOENT\n`;
      for (let i = 1; i <= 2; i++) {
        const response = await fetch(`${proxy.url}/json`);
        expect(response.status).toBe(502);
        await response.text();
        expect(await waitFor(() => proxy.stderr().split(line).length - 1 === i)).toBe(true);
      }
      expect(proxy.stderr()).toBe(line.repeat(2));
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('gives sed the request method and URL in its environment', async () => {
    const proxy = await startProxy([
      '--upstream',
      python.url,
      '--body-filter',
      '--',
      'sh',
      '-c',
      'sed "s|world|$TRANSFORM_REQUEST_METHOD $TRANSFORM_REQUEST_URL|"',
    ]);
    proxies.push(proxy);
    const response = await fetch(`${proxy.url}/json?a=b`);
    expect(await response.json()).toEqual({ hello: `GET ${proxy.url}/json?a=b`, path: '/json?a=b' });
  });
});
