// The Hono middleware, through a real @hono/node-server on 127.0.0.1 and a real client: what the client
// receives is the transform's response, headers included, and nothing of the response it replaced.
import { request as httpRequest } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { compress } from 'hono/compress';
import { afterEach, describe, expect, it } from 'vitest';
import { transform } from '../../src/hono/index.ts';
import { createTransformPool } from '../../src/index.ts';
import { nodeFixture, StderrLines, startServer, track, waitFor } from '../_utils.ts';

/** What the handler sends: a length, a strong ETag and a date that no longer fit a transformed body. */
const STALE = {
  'content-type': 'text/plain; charset=utf-8',
  'content-length': '5',
  etag: '"v1"',
  'last-modified': 'Tue, 01 Jul 2025 00:00:00 GMT',
  'x-remove-me': 'yes',
  'x-kept': 'kept',
};

const servers: { stop: () => Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

async function serve(app: Hono): Promise<string> {
  const server = await startServer(app.fetch);
  servers.push(server);
  return server.url;
}

/** An app whose /pages/* answer `hello` (or the `body` query) with the stale headers, behind `middleware`. */
function createApp(middleware: ReturnType<typeof transform>, before?: (app: Hono) => void): Hono {
  const app = new Hono();
  before?.(app);
  app.use('/pages/*', middleware);
  app.get('/pages/:name', (c) => {
    const body = c.req.query('body') ?? 'hello';
    return c.body(body, 200, { ...STALE, 'content-length': String(Buffer.byteLength(body)) });
  });
  app.get('/data', (c) => c.body('hello', 200, STALE));
  return app;
}

/** GET with node:http, so the body arrives as sent (fetch would decode a gzip body by itself). */
function getRaw(url: string, headers: Record<string, string>) {
  return new Promise<{ headers: Record<string, string | string[] | undefined>; body: Buffer }>(
    (resolve, reject) => {
      httpRequest(url, { headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      })
        .on('error', reject)
        .end();
    },
  );
}

describe('transform() on @hono/node-server', () => {
  it('sends the transformed response with none of the stale headers of the one it replaced', async () => {
    const middleware = track(transform({ command: nodeFixture('wrap-strip.mjs'), processes: 1 }));
    const url = await serve(createApp(middleware));
    const response = await fetch(`${url}/pages/hello`);
    const body = await response.text();
    expect(response.status).toBe(200);
    expect(body).toBe('<main>hello</main>');
    const length = response.headers.get('content-length');
    if (length !== null) expect(Number(length)).toBe(Buffer.byteLength(body));
    expect(response.headers.get('etag')).toBe('W/"v1"');
    expect(response.headers.get('last-modified')).toBeNull();
    expect(response.headers.get('x-remove-me')).toBeNull();
    expect(response.headers.get('x-kept')).toBe('kept');
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(middleware.pool.stats().ok).toBe(1);
  });

  it('is compressed by compress() registered before it: the transformed body, gzip-encoded', async () => {
    const middleware = track(transform({ command: nodeFixture('wrap-strip.mjs'), processes: 1 }));
    const url = await serve(createApp(middleware, (app) => app.use(compress())));
    const text = 'hello '.repeat(400);
    const { headers, body } = await getRaw(`${url}/pages/long?body=${encodeURIComponent(text)}`, {
      'accept-encoding': 'gzip',
    });
    expect(headers['content-encoding']).toBe('gzip');
    if (headers['content-length'] !== undefined) expect(Number(headers['content-length'])).toBe(body.length);
    expect(gunzipSync(body).toString()).toBe(`<main>${text}</main>`);
    expect(headers['x-remove-me']).toBeUndefined();
    expect(headers.etag).toBe('W/"v1"');
  });

  it('leaves a response the selection skips untouched', async () => {
    const middleware = track(
      transform({ command: nodeFixture('wrap-strip.mjs'), processes: 1, contentType: 'application/json' }),
    );
    const url = await serve(createApp(middleware));
    const response = await fetch(`${url}/pages/hello`);
    expect(await response.text()).toBe('hello');
    for (const [name, value] of Object.entries(STALE)) expect(response.headers.get(name)).toBe(value);
    expect(middleware.pool.stats().ok).toBe(0);
  });

  it('answers a failed transform with its status and none of the original headers', async () => {
    const middleware = track(
      transform({ command: nodeFixture('transform-error.mjs'), processes: 1, stderr: 'ignore' }),
    );
    const url = await serve(createApp(middleware));
    const response = await fetch(`${url}/pages/x?body=fail`);
    expect(response.status).toBe(502);
    expect(await response.text()).toBe('The response transform could not transform this response\n');
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    for (const name of ['etag', 'last-modified', 'x-remove-me', 'x-kept']) {
      expect(response.headers.get(name)).toBeNull();
    }
    // The process was kept: the next response is transformed.
    expect(await (await fetch(`${url}/pages/x?body=fine`)).text()).toBe('fine');
    expect(middleware.pool.stats()).toMatchObject({ started: 1, ok: 1 });
  });

  it("with onError 'passthrough', sends the original response as it was", async () => {
    const middleware = track(
      transform({
        command: nodeFixture('transform-error.mjs'),
        processes: 1,
        stderr: 'ignore',
        onError: 'passthrough',
      }),
    );
    const url = await serve(createApp(middleware));
    const response = await fetch(`${url}/pages/x?body=fail`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('fail');
    expect(response.headers.get('etag')).toBe('"v1"');
    expect(response.headers.get('x-remove-me')).toBe('yes');
  });

  it('shares a pool with a selection of its own', async () => {
    const pool = track(createTransformPool({ command: nodeFixture('wrap-strip.mjs'), processes: 1 }));
    const app = new Hono();
    app.use('/pages/*', transform({ pool, contentType: 'text/plain' }));
    app.use('/json/*', transform({ pool, contentType: 'text/html' }));
    app.get('*', (c) => c.text('hello'));
    const url = await serve(app);
    expect(await (await fetch(`${url}/pages/a`)).text()).toBe('<main>hello</main>');
    expect(await (await fetch(`${url}/json/a`)).text()).toBe('hello');
    expect(pool.stats().ok).toBe(1);
  });

  it('a client that leaves mid-transform leaves the server and the pool healthy', async () => {
    const log = new StderrLines();
    const middleware = track(
      transform({
        command: nodeFixture('slow-head.mjs'),
        processes: 1,
        ...log.options({ SLOW_MS: '60000' }),
      }),
    );
    const url = await serve(createApp(middleware));
    await log.allReady(middleware.pool);
    const controller = new AbortController();
    const leaving = fetch(`${url}/pages/x?body=slow`, { signal: controller.signal });
    await log.until('waiting');
    controller.abort();
    await expect(leaving).rejects.toThrow();
    // The process is drained or replaced, never handed on with its unread answer.
    expect(await waitFor(() => middleware.pool.stats().busy === 0, 20_000)).toBe(true);
    const next = await fetch(`${url}/pages/x?body=after`);
    expect(next.status).toBe(200);
    expect(await next.text()).toBe('after');
    expect(middleware.pool.stats().alive).toBe(1);
  });
});
