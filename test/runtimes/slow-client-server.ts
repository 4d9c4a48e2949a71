// A server whose large responses go through large-answer.mjs, under Bun.serve, Deno.serve or
// @hono/node-server (whichever runtime runs it), with a slow-client bound of 64 KiB and 500 ms and two
// processes. GET /large answers 32 MiB, any other path 'small'; GET /stats is the pool's stats, untransformed.
// FIXTURE_NODE is the Node that runs the transform.
import { fileURLToPath } from 'node:url';
import { withTransform } from 'subprocess-transform';
import { announce, stopOnSigterm } from './app.ts';
import { serveNode } from './node.ts';

const transformed = withTransform(
  (request: Request) =>
    new Response(new URL(request.url).pathname === '/large' ? String(32 * 1024 * 1024) : 'small', {
      headers: { 'content-type': 'text/plain' },
    }),
  {
    command: [
      process.env.FIXTURE_NODE ?? 'node',
      fileURLToPath(new URL('../fixtures/large-answer.mjs', import.meta.url)),
    ],
    processes: 2,
    clientBuffer: 64 * 1024,
    clientTimeout: 500,
    stderr: 'ignore',
  },
);

function fetch(request: Request): Response | Promise<Response> {
  if (new URL(request.url).pathname === '/stats') return Response.json(transformed.pool.stats());
  return transformed(request);
}

interface BunServe {
  serve(options: { fetch: typeof fetch; port: number; hostname: string; idleTimeout: number }): {
    port: number;
    stop(closeActive: boolean): Promise<void>;
  };
}

const bun = (globalThis as { Bun?: BunServe }).Bun;
if (bun !== undefined) {
  // idleTimeout 0: Bun would reset a silent stream after 10 s itself, which is not the bound under test.
  const server = bun.serve({ fetch, port: 0, hostname: '127.0.0.1', idleTimeout: 0 });
  announce(server.port);
  stopOnSigterm(async () => {
    await server.stop(true);
    await transformed.pool.close();
  });
} else if (typeof Deno !== 'undefined') {
  const server = Deno.serve(
    { port: 0, hostname: '127.0.0.1', onListen: ({ port }) => announce(port) },
    fetch,
  );
  stopOnSigterm(async () => {
    await server.shutdown();
    await transformed.pool.close();
  });
} else {
  serveNode(fetch, () => transformed.pool.close());
}
