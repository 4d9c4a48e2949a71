// The app every test server serves, whatever the runtime: a small Hono app, and the transform options.
import { fileURLToPath } from 'node:url';
import { Hono, type MiddlewareHandler } from 'hono';
import type { TransformOptions } from 'subprocess-transform';
import { pseudoRandomStream } from './body.ts';

export type RuntimeName = 'node' | 'bun' | 'deno';

/** The runtime running this code and its version, from what only that runtime defines. */
function currentRuntime(): { runtime: RuntimeName; version: string } {
  if (typeof Deno !== 'undefined') return { runtime: 'deno', version: Deno.version.deno };
  if (process.versions.bun !== undefined) return { runtime: 'bun', version: process.versions.bun };
  return { runtime: 'node', version: process.versions.node };
}

function here(name: string): string {
  return fileURLToPath(new URL(name, import.meta.url));
}

/** The argv that runs a transform: a serveTransform child under this same runtime, or the Python one. */
function transformCommand(kind: string): string[] {
  if (kind === 'python') return ['python3', here('child.py')];
  if (kind !== 'runtime')
    throw new Error(`TRANSFORM must be "runtime" or "python", not ${JSON.stringify(kind)}`);
  const { runtime } = currentRuntime();
  if (runtime === 'deno') return [Deno.execPath(), 'run', '-A', here('child.ts')];
  if (runtime === 'bun') return [process.execPath, here('child.ts')];
  return [process.execPath, here('child.mjs')];
}

/** Pool and selection options: text and bytes go through the transform, JSON (`/info`) does not. */
export function transformOptions(): TransformOptions {
  return {
    command: transformCommand(process.env.TRANSFORM ?? 'runtime'),
    processes: 2,
    contentType: ['text/plain', 'application/octet-stream'],
  };
}

/** The app; `middleware`, if given, runs in front of every route. */
export function createApp(middleware?: MiddlewareHandler): Hono {
  const app = new Hono();
  if (middleware !== undefined) app.use(middleware);
  app.get('/info', (c) => c.json({ ...currentRuntime(), pid: process.pid }));
  // An explicit type: Hono's c.text() may return `new Response(string)`, which has no Content-Type on Bun
  // until Bun.serve writes one, so the selection would not see text/plain.
  app.get('/text', (c) =>
    c.body(`hello from ${currentRuntime().runtime}`, 200, { 'content-type': 'text/plain; charset=utf-8' }),
  );
  app.get('/bytes', (c) => {
    const size = Number(c.req.query('size'));
    if (!Number.isSafeInteger(size) || size < 0) return c.text('size must be a byte count', 400);
    return c.body(pseudoRandomStream(size), 200, { 'content-type': 'application/octet-stream' });
  });
  return app;
}

/** Tell the test where the server listens: one JSON line on stdout. */
export function announce(port: number): void {
  console.log(JSON.stringify({ port, ...currentRuntime(), pid: process.pid }));
}

/** On SIGTERM: run `stop` (close the server, then the pool), say `stopped` and exit 0, or exit 1 if it fails. */
export function stopOnSigterm(stop: () => Promise<void>): void {
  process.once('SIGTERM', () => {
    stop().then(
      () => {
        console.log('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        console.error('shutdown failed:', error);
        process.exit(1);
      },
    );
  });
}
