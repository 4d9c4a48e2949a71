// The server the soak loads, in a process of its own so its RSS and open fds are the library's alone: Hono on
// @hono/node-server on 127.0.0.1, `/page/:token` answering "page <token>" through the `subprocess-transform/hono`
// middleware and bench/soak-transform.mjs, which misbehaves when the request says so (X-Soak). A failed
// transform answers its status with the code in X-Soak-Error and the message, ids and numbers left out, in
// X-Soak-Reason. `/soak/stats` (not transformed) reports RSS and
// the heap in use after a GC, open fds, open connections, pool.stats() and process events by kind. argv[2]: JSON
// `{ processes, timeout, startTimeout, readLog }`. Prints `{"port": N}` when ready.
import { readdirSync } from 'node:fs';
import process from 'node:process';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { transform } from '../src/hono/index.ts';
import type { ProcessEvent } from '../src/index.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as {
  processes: number;
  timeout: number;
  startTimeout: number;
  readLog: string;
};

const events: Record<string, number> = {};
function countEvent(event: ProcessEvent): void {
  const kind = event.type === 'exit' ? `exit ${event.reason}` : event.type;
  events[kind] = (events[kind] ?? 0) + 1;
}

/** An error's message without what differs per request (pids, ids, numbers), to group failures by reason. */
function describe(error: Error): string {
  return error.message
    .replace(/"[^"]*soak-transform\.mjs"/, '"soak-transform"')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
    .replace(/\d+/g, 'N')
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, 200);
}

const middleware = transform({
  command: [process.execPath, new URL('soak-transform.mjs', import.meta.url).pathname],
  processes: config.processes,
  timeout: config.timeout,
  startTimeout: config.startTimeout,
  requestContext: ['X-Soak'],
  env: { SOAK_READ_LOG: config.readLog },
  stderr: 'ignore',
  onEvent: countEvent,
  onError: (error) =>
    new Response(`${error.code}\n`, {
      status: error.status ?? 502,
      headers: { 'content-type': 'text/plain', 'x-soak-error': error.code, 'x-soak-reason': describe(error) },
    }),
});

const app = new Hono();
app.use('/page/*', middleware);
app.get('/page/:token', (c) => c.text(`page ${c.req.param('token')}`));
app.get('/soak/stats', async (c) => {
  // Twice: the first pass may only queue finalizers that free what the second collects.
  for (let i = 0; i < 2; i++) (globalThis as { gc?: () => void }).gc?.();
  const connections = await new Promise<number>((resolve) =>
    server.getConnections((_error, count) => resolve(count)),
  );
  return c.json({
    rss: process.memoryUsage.rss(),
    heapUsed: process.memoryUsage().heapUsed,
    fds: countOpenFds(),
    connections,
    pool: middleware.pool.stats(),
    events,
  });
});

/** Open file descriptors of this process (Linux /proc, else /dev/fd as on macOS). */
function countOpenFds(): number {
  for (const directory of ['/proc/self/fd', '/dev/fd']) {
    try {
      return readdirSync(directory).length;
    } catch {
      // Not this system's: try the next.
    }
  }
  return Number.NaN;
}

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  console.log(JSON.stringify({ port: info.port }));
});

// Stopped by the end of stdin (the soak ended it, or died) or SIGTERM: no server outlives its soak.
async function stop(): Promise<void> {
  server.close();
  if ('closeAllConnections' in server) server.closeAllConnections();
  await middleware.pool.close({ timeout: 1000 });
  process.exit(0);
}
process.once('SIGTERM', stop);
process.stdin.once('end', stop).resume();
