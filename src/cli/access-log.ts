import type { HttpBindings } from '@hono/node-server';

type Handler<Node> = (request: Request, node: Node) => Promise<Response>;

/** What {@link createAccessLog} returns: two wrappers, one inside `withTransform`, one outside. */
export interface AccessLog {
  /** Wrap the proxy handler (inside `withTransform`) to remember the upstream's response of each request. */
  recordUpstream<Node>(proxy: Handler<Node>): Handler<Node>;
  /** Wrap the transformed handler: one line per request once its response is sent or abandoned. */
  wrap(handler: Handler<HttpBindings>): Handler<HttpBindings>;
}

function countBytes(
  body: ReadableStream<Uint8Array>,
  onChunk: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        onChunk(chunk.byteLength);
        controller.enqueue(chunk);
      },
    }),
  );
}

/**
 * An access log in the spirit of nginx's: `GET /path?q 200 1234 5ms transformed`, that is method, path, status,
 * body bytes sent, milliseconds to the end of the response, and whether the transform ran (`transformed`) or
 * the upstream's response went out as it was (`passed`). A client that left before the answer is logged as 499.
 *
 * @param write Where each line goes; stdout by default.
 * @returns The two wrappers.
 * @example
 * ```ts
 * const log = createAccessLog();
 * const handler = withTransform(log.recordUpstream(proxy), { command: 'cat' });
 * await serveFetch(log.wrap(handler), { port: 0, host: '127.0.0.1' });
 * ```
 */
export function createAccessLog(write = (line: string): void => void process.stdout.write(line)): AccessLog {
  const upstreamOf = new WeakMap<Request, Response>();
  return {
    recordUpstream(proxy) {
      return async function recordUpstream(request, node) {
        const response = await proxy(request, node);
        upstreamOf.set(request, response);
        return response;
      };
    },
    wrap(handler) {
      return async function logAccess(request, node) {
        const start = performance.now();
        const { pathname, search } = new URL(request.url);
        const line = (status: number, bytes: number, outcome: string): void => {
          const ms = Math.round(performance.now() - start);
          write(`${request.method} ${pathname}${search} ${status} ${bytes} ${ms}ms ${outcome}\n`);
        };
        let response: Response;
        try {
          response = await handler(request, node);
        } catch (error) {
          line(request.signal.aborted ? 499 : 500, 0, 'passed');
          throw error;
        }
        const outcome = response === upstreamOf.get(request) ? 'passed' : 'transformed';
        let bytes = 0;
        node.outgoing.once('close', () => line(response.status, bytes, outcome));
        if (response.body === null) return response;
        return new Response(
          countBytes(response.body, (n) => {
            bytes += n;
          }),
          response,
        );
      };
    },
  };
}
