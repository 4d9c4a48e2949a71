// `npm start`: serves the demo app (examples/app.ts) on http://127.0.0.1:3000, or on $PORT (0 picks a free
// port). Open /planets for a page rendered by the transform processes, /api/planets for the raw JSON.
import { serve } from '@hono/node-server';
import { createDemoHandler } from './app.ts';

const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`Expected PORT to be a port number, got ${process.env.PORT}`);
  process.exit(1);
}

const handler = createDemoHandler();
const server = serve({ fetch: handler, port, hostname: '127.0.0.1' }, (info) => {
  console.log(`subprocess-transform demo listening on http://127.0.0.1:${info.port}`);
});

// Stop taking connections, let the transforms in flight finish, then end the transform processes.
let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    // Idle keep-alive connections would hold close() open; requests in flight still finish.
    if ('closeIdleConnections' in server) server.closeIdleConnections();
  });
  await handler.pool.close();
  process.exit(0);
}

function onSignal(): void {
  shutdown().catch((error: unknown) => {
    console.error('Shutdown failed:', error);
    process.exit(1);
  });
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
