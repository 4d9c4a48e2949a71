// Serve a fetch handler under Node with @hono/node-server, announce the port, stop cleanly on SIGTERM.
import { serve } from '@hono/node-server';
import { announce, stopOnSigterm } from './app.ts';

/** @param closePool Closes the transform pool once the server has stopped. */
export function serveNode(
  fetch: (request: Request) => Response | Promise<Response>,
  closePool: () => Promise<void>,
) {
  const server = serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info) => announce(info.port));
  stopOnSigterm(async () => {
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise<void>((resolve, reject) =>
      server.close((error) => (error ? reject(error) : resolve())),
    );
    await closePool();
  });
}
