import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { waitForDrain } from '../io/write.ts';

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

// Node frames the message and manages the connection itself; these from the handler would contradict it.
const FRAMING = new Set(['connection', 'keep-alive', 'transfer-encoding']);

function createRequest(req: IncomingMessage, signal: AbortSignal): Request {
  // An absolute-form target (a proxy request) carries its own origin; new URL() keeps it.
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
  const headers = new Headers();
  // rawHeaders keeps repeated fields as they came, where req.headers joins or drops some.
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  }
  // RFC 9112 section 6.3: a request has a body only with Transfer-Encoding or a non-zero Content-Length.
  const hasBody =
    req.method !== 'GET' &&
    req.method !== 'HEAD' &&
    (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0);
  return new Request(url, {
    method: req.method,
    headers,
    signal,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : null,
    // A streamed request body must be declared half-duplex (fetch spec); undici rejects it otherwise.
    duplex: 'half',
  } as RequestInit);
}

function getHeaders(response: Response): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of response.headers) {
    if (!FRAMING.has(name) && name !== 'set-cookie') headers[name] = value;
  }
  // Set-Cookie cannot be joined with commas (cookie dates contain them): each goes on its own line.
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  return headers;
}

async function writeResponse(response: Response, req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.writeHead(response.status, response.statusText || undefined, getHeaders(response));
  // No body to send (HEAD), or no one to send it to (the client left while the handler ran).
  if (response.body === null || req.method === 'HEAD' || res.destroyed) {
    await response.body?.cancel().catch(() => {});
    res.end();
    return;
  }
  const reader = response.body.getReader();
  // The client left mid-body: stop the producer (the transform, the upstream) instead of reading on.
  const onClose = (): void => {
    if (!res.writableFinished) reader.cancel().catch(() => {});
  };
  res.once('close', onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value)) await waitForDrain(res);
    }
    if (!res.destroyed) res.end();
  } catch (error) {
    reader.cancel(error).catch(() => {});
    // A destroyed response means the client left (waitForDrain rejected); otherwise the body failed.
    if (!res.destroyed) console.error('subprocess-transform: the response body failed:', error);
    // Without the final chunk (or with fewer bytes than Content-Length) the client sees a broken message,
    // never a complete-looking truncated one.
    res.destroy();
  } finally {
    res.off('close', onClose);
  }
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

function respondWithError(res: ServerResponse, status: number, text: string): void {
  // Once the head is out, the only honest way to report a failure is to break the connection.
  if (res.headersSent) res.destroy();
  else res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
}

/**
 * Serve a fetch-style handler with `node:http`: each request becomes a `Request` (its signal aborts when the
 * client disconnects before the response ends), each `Response` is streamed back with backpressure.
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
  handler: (request: Request) => Response | Promise<Response>,
  options: ServeOptions,
): Promise<Served> {
  let closing: Promise<void> | undefined;
  const server = createServer(async function serveRequest(req, res) {
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('The client disconnected'));
    });
    let request: Request;
    try {
      request = createRequest(req, controller.signal);
    } catch {
      respondWithError(res, 400, 'Bad request\n');
      return;
    }
    try {
      const response = await handler(request);
      // Once closing, a kept-alive connection would carry the next request to a server that is going away.
      if (closing !== undefined) res.shouldKeepAlive = false;
      await writeResponse(response, req, res);
    } catch (error) {
      // After a disconnect the handler's failure is expected, and there is no one to answer.
      if (!controller.signal.aborted) console.error('subprocess-transform: the request failed:', error);
      respondWithError(res, 500, 'Internal server error\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
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
