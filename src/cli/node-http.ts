import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type HttpBindings, serve } from '@hono/node-server';
import { watchBody } from './watch-body.ts';

/** Where {@link serveFetch} listens. */
export interface ServeOptions {
  port: number;
  host: string;
}

/** A running server. */
export interface Served {
  /** `http://host:port`, with the port really bound (useful with port 0). */
  url: string;
  /** Stop listening, close idle connections, let responses in flight finish for up to `timeout` ms (10 000). */
  close(options?: { timeout?: number }): Promise<void>;
}

async function respond(
  handler: (request: Request, node: HttpBindings) => Response | Promise<Response>,
  request: Request,
  node: HttpBindings,
): Promise<Response> {
  const response = await handler(request, node);
  if (response.body === null) return response;
  // A failed body breaks the connection instead of reaching @hono/node-server: before the head is sent, the
  // server answers a failed first read with 500 and `Error: <message>` (a transform's command and pid, for any
  // client to read). Destroying the socket gives the client a response cut short, never an error text, and a
  // failed body never looks complete.
  const body = watchBody(response.body, { onFailure: () => node.outgoing.destroy(), afterFailure: 'hold' });
  return new Response(body, response);
}

function closeServer(server: Server, timeout: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => server.closeAllConnections(), timeout);
    server.close((error) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * Serve a fetch-style handler with `@hono/node-server` on node:http: each request's signal aborts when the client
 * disconnects before the response ends, each `Response` is streamed back with backpressure, a body that fails
 * mid-way breaks the connection, and node:http answers `Expect: 100-continue` itself. The handler's second
 * argument holds the node:http `incoming` and `outgoing` objects.
 *
 * @param handler Called once per request.
 * @param options Port (0 for any free one) and address to listen on.
 * @returns The URL listened on and a `close()` function.
 * @example
 * ```ts
 * const server = await serveFetch(() => new Response('hi'), { port: 0, host: '127.0.0.1' });
 * console.log(await (await fetch(server.url)).text()); // 'hi'
 * await server.close();
 * ```
 */
export async function serveFetch(
  handler: (request: Request, node: HttpBindings) => Response | Promise<Response>,
  options: ServeOptions,
): Promise<Served> {
  let closing: Promise<void> | undefined;
  const server = await new Promise<Server>((resolve, reject) => {
    const started = serve(
      {
        // Plain node:http (no `createServer` option given): the bindings are always the HTTP/1.1 ones.
        fetch: (request, node) => respond(handler, request, node as HttpBindings),
        port: options.port,
        hostname: options.host,
        // The library and the transforms see the standard Request and Response, not the package's light ones.
        overrideGlobalObjects: false,
      },
      () => {
        started.off('error', reject);
        resolve(started as Server);
      },
    );
    started.once('error', reject);
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    close({ timeout = 10_000 } = {}) {
      closing ??= closeServer(server, timeout);
      return closing;
    },
  };
}
