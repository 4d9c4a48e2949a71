import type { Server, ServerResponse } from 'node:http';
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
  /**
   * Stop listening, close idle connections, let responses in flight finish for up to `timeout` ms (10 000), then
   * cut those still going (see {@link getCut}). Every response whose head goes out from then on says
   * `Connection: close`, and its connection closes after it; a connection whose response went out kept alive
   * before stays open only while other responses are in flight, for a request on it to get its answer (Deno's
   * node:http closes it once its response ends).
   */
  close(options?: { timeout?: number }): Promise<void>;
}

/**
 * How the server itself broke a response's connection: its body failed (`'failure'`), or it was still going
 * when `close()`'s time ran out (`'shutdown'`); `headSent` says whether its head had gone to the client.
 */
export interface ServerCut {
  by: 'failure' | 'shutdown';
  headSent: boolean;
}

const cuts = new WeakMap<ServerResponse, ServerCut>();

/**
 * Whether, and how, {@link serveFetch} broke the connection of `outgoing` (a client that left is no cut).
 *
 * @param outgoing The node:http response of a request, the handler's `node.outgoing`.
 * @returns The cut, or undefined when the server did not break that response.
 * @example
 * ```ts
 * node.outgoing.once('close', () => console.log(getCut(node.outgoing)?.headSent === false ? 'nothing sent' : ''));
 * ```
 */
export function getCut(outgoing: ServerResponse): ServerCut | undefined {
  return cuts.get(outgoing);
}

function cutResponse(outgoing: ServerResponse, by: ServerCut['by']): void {
  // Once the head is written, @hono/node-server flushes it in the same step: `headersSent` then means it has
  // gone to the socket. Before, the client gets a closed connection and nothing else (curl: status 000).
  if (!cuts.has(outgoing)) cuts.set(outgoing, { by, headSent: outgoing.headersSent });
  outgoing.destroy();
}

/** Where the server is in its life: taking requests, or draining them since `close()` began. */
type ServerState = 'serving' | 'draining';

/** What the requests of one server share: its responses in flight and its state. */
interface Connections {
  server: Server | undefined;
  inFlight: Set<ServerResponse>;
  state: ServerState;
}

function closeAfterResponse(outgoing: ServerResponse): void {
  // node:http then writes `Connection: close` in the head and ends the connection after the response: a client
  // sends nothing more on it, where a kept-alive one races its next request onto a connection about to close.
  if (!outgoing.headersSent) outgoing.setHeader('connection', 'close');
}

async function respond(
  handler: (request: Request, node: HttpBindings) => Response | Promise<Response>,
  request: Request,
  node: HttpBindings,
  connections: Connections,
): Promise<Response> {
  const { inFlight } = connections;
  inFlight.add(node.outgoing);
  // A request that came on a connection kept alive from before, during the drain.
  if (connections.state === 'draining') closeAfterResponse(node.outgoing);
  node.outgoing.once('close', () => {
    inFlight.delete(node.outgoing);
    // The last response of the drain is done: the connections kept alive before it have nothing left to wait for.
    if (connections.state === 'draining' && inFlight.size === 0) connections.server?.closeIdleConnections();
  });
  const response = await handler(request, node);
  if (response.body === null) return response;
  // A failed body breaks the connection instead of reaching @hono/node-server: before the head is sent, the
  // server answers a failed first read with 500 and `Error: <message>` (a transform's command and pid, for any
  // client to read). Destroying the socket gives the client a response cut short, never an error text, and a
  // failed body never looks complete.
  const body = watchBody(response.body, {
    onFailure: () => cutResponse(node.outgoing, 'failure'),
    afterFailure: 'hold',
  });
  return new Response(body, response);
}

function closeServer(server: Server, inFlight: Set<ServerResponse>, timeout: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      for (const outgoing of inFlight) cutResponse(outgoing, 'shutdown');
      server.closeAllConnections();
    }, timeout);
    server.close((error) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    });
    for (const outgoing of inFlight) closeAfterResponse(outgoing);
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
  const connections: Connections = { server: undefined, inFlight: new Set(), state: 'serving' };
  let closing: Promise<void> | undefined;
  const server = await new Promise<Server>((resolve, reject) => {
    const started = serve(
      {
        // Plain node:http (no `createServer` option given): the bindings are always the HTTP/1.1 ones.
        fetch: (request, node) => respond(handler, request, node as HttpBindings, connections),
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
  connections.server = server;
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    close({ timeout = 10_000 } = {}) {
      // The state changes before the first connection is touched: a response starting from here closes after it.
      connections.state = 'draining';
      closing ??= closeServer(server, connections.inFlight, timeout);
      return closing;
    },
  };
}
