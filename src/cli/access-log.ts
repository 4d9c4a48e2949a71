import type { HttpBindings } from '@hono/node-server';
import { createErrorResponse, type TransformError } from '../shared/errors.ts';

type Handler<Node> = (request: Request, node: Node) => Promise<Response>;

/**
 * What a line says of a request: its response went out `transformed`, or as the upstream sent it (`passed`);
 * the transform or the body `failed`; or the client left before the end (`aborted`).
 */
type AccessOutcome = 'transformed' | 'passed' | 'failed' | 'aborted';

/** What {@link createAccessLog} returns: wrappers inside and outside `withTransform`, and its `onError`. */
export interface AccessLog {
  /** Wrap the proxy handler (inside `withTransform`) to remember the upstream's response of each request. */
  recordUpstream<Node>(proxy: Handler<Node>): Handler<Node>;
  /** `withTransform`'s `onError`: answers as `'respond'` does, and the request's line says `failed`. */
  onError(error: TransformError, request: Request | undefined): Response;
  /** Wrap the transformed handler: one line per request once its response is sent or abandoned. */
  wrap(handler: Handler<HttpBindings>): Handler<HttpBindings>;
}

/** `body`, counting the bytes that go through and telling when it breaks (a cancel is not a break). */
function observeBody(
  body: ReadableStream<Uint8Array>,
  onChunk: (bytes: number) => void,
  onError: (error: unknown) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        // An error while no read is pending (a client that reads nothing, ended past `clientTimeout`) must
        // reach the server now: it breaks the connection on it, and would otherwise wait for the client.
        // (serveFetch's body guard turns it into a broken connection, whenever it comes.)
        reader.closed.catch((error: unknown) => {
          onError(error);
          controller.error(error);
        });
      },
      async pull(controller) {
        let read: ReadableStreamReadResult<Uint8Array>;
        try {
          read = await reader.read();
        } catch (error) {
          onError(error);
          controller.error(error);
          return;
        }
        if (read.done) controller.close();
        else {
          onChunk(read.value.byteLength);
          controller.enqueue(read.value);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * An access log in the spirit of nginx's: `GET /path?q 200 1234 5ms transformed`, that is method, path, status,
 * body bytes sent, milliseconds to the end of the response, and the outcome: `transformed`, `passed` (the
 * upstream's response went out as it was, the proxy's own 502 and 504 included), `failed` (the transform
 * failed, or the body broke mid-way) or `aborted` (the client left first). A client that left before any
 * answer is logged with status 499.
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
          const said: AccessOutcome =
            failed.has(request) || outcome === 'failed'
              ? 'failed'
              : outcome === undefined || !node.outgoing.writableFinished
                ? 'aborted'
                : outcome;
          const ms = Math.round(performance.now() - start);
          write(`${request.method} ${pathname}${search} ${status} ${bytes} ${ms}ms ${said}\n`);
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
        outcome = response === upstreamOf.get(request) ? 'passed' : 'transformed';
        if (response.body === null) return response;
        const body = observeBody(
          response.body,
          (n) => {
            bytes += n;
          },
          (error) => {
            // A response ended for a client that read nothing past `clientTimeout` is the client's doing.
            outcome = (error as { code?: unknown }).code === 'ERR_TRANSFORM_ABORTED' ? 'aborted' : 'failed';
          },
        );
        return new Response(body, response);
      };
    },
  };
}
