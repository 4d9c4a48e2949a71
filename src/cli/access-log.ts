import type { HttpBindings } from '@hono/node-server';
import { createErrorResponse, type TransformError } from '../shared/errors.ts';
import { isDrainRefusal } from './drain-refusal.ts';
import { getCut } from './node-http.ts';
import { watchBody } from './watch-body.ts';

type Handler<Node> = (request: Request, node: Node) => Promise<Response>;

/**
 * What a line says of a request: its response went out `transformed`, or as the upstream sent it (`passed`);
 * the transform or the body `failed`; the client left before the end (`aborted`); or the server's shutdown
 * cut it, or refused it with a 503 during the drain (`shutdown`).
 */
type AccessOutcome = 'transformed' | 'passed' | 'failed' | 'aborted' | 'shutdown';

/** What {@link createAccessLog} returns: wrappers inside and outside `withTransform`, and its `onError`. */
export interface AccessLog {
  /** Wrap the proxy handler (inside `withTransform`) to remember the upstream's response of each request. */
  recordUpstream<Node>(proxy: Handler<Node>): Handler<Node>;
  /** `withTransform`'s `onError`: answers as `'respond'` does, and the request's line says `failed`. */
  onError(error: TransformError, request: Request | undefined): Response;
  /** Wrap the transformed handler: one line per request once its response is sent or abandoned. */
  wrap(handler: Handler<HttpBindings>): Handler<HttpBindings>;
}

/**
 * An access log in the spirit of nginx's: `GET /path?q 200 1234 5ms transformed`, that is method, path, status,
 * body bytes sent, milliseconds to the end of the response, and the outcome: `transformed`, `passed` (the
 * upstream's response went out as it was, the proxy's own 502 and 504 included), `failed` (the transform
 * failed, or the body broke mid-way), `aborted` (the client left first) or `shutdown` (still going when the
 * server's shutdown ran out of time, or a 503 for a request that came during the drain). The status is what the client got: 499 for a client that left before any
 * answer, as nginx logs it, and 000 for a connection the server broke before the head went out (curl's
 * `%{http_code}` for it; Envoy logs 0), with 0 bytes.
 *
 * @param write Where each line goes; stdout by default.
 * @returns The wrappers and the `onError` to give `withTransform`.
 * @example
 * ```ts
 * const log = createAccessLog();
 * const handler = withTransform(log.recordUpstream(proxy), { command: 'cat', onError: log.onError });
 * await serveFetch(log.wrap(handler), { port: 0, host: '127.0.0.1' });
 * ```
 */
export function createAccessLog(write = (line: string): void => void process.stdout.write(line)): AccessLog {
  const upstreamOf = new WeakMap<Request, Response>();
  const failed = new WeakSet<Request>();
  return {
    recordUpstream(proxy) {
      return async function recordUpstream(request, node) {
        const response = await proxy(request, node);
        upstreamOf.set(request, response);
        return response;
      };
    },
    onError(error, request) {
      // A client that left is no failure: its line says `aborted`.
      if (request !== undefined && error.code !== 'ERR_TRANSFORM_ABORTED') failed.add(request);
      return createErrorResponse(error);
    },
    wrap(handler) {
      return async function logAccess(request, node) {
        const start = performance.now();
        const { pathname, search } = new URL(request.url);
        let status = 499;
        let bytes = 0;
        let outcome: AccessOutcome | undefined;
        // One line, when the connection is done with the response: sent whole, broken, or left by the client.
        node.outgoing.once('close', () => {
          const cut = getCut(node.outgoing);
          const said: AccessOutcome =
            cut?.by === 'shutdown'
              ? 'shutdown'
              : failed.has(request) || outcome === 'failed'
                ? 'failed'
                : outcome === undefined || !node.outgoing.writableFinished
                  ? 'aborted'
                  : outcome;
          // Broken before its head: the client got a closed connection and nothing else.
          const [sent, sentBytes] = cut?.headSent === false ? ['000', 0] : [String(status), bytes];
          const ms = Math.round(performance.now() - start);
          write(`${request.method} ${pathname}${search} ${sent} ${sentBytes} ${ms}ms ${said}\n`);
        });
        let response: Response;
        try {
          response = await handler(request, node);
        } catch (error) {
          // A client that left before the answer (499), or a failure of the proxy's own (500).
          if (!request.signal.aborted) [status, outcome] = [500, 'failed'];
          throw error;
        }
        status = response.status;
        outcome = isDrainRefusal(response)
          ? 'shutdown'
          : response === upstreamOf.get(request)
            ? 'passed'
            : 'transformed';
        if (response.body === null) return response;
        const body = watchBody(response.body, {
          onChunk(n) {
            bytes += n;
          },
          onFailure(error) {
            // A response ended for a client that read nothing past `clientTimeout` is the client's doing.
            outcome = (error as { code?: unknown }).code === 'ERR_TRANSFORM_ABORTED' ? 'aborted' : 'failed';
          },
          // serveFetch's own watcher, outside this one, breaks the connection on it.
          afterFailure: 'error',
        });
        return new Response(body, response);
      };
    },
  };
}
