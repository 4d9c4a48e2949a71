type Handler<Node> = (request: Request, node: Node) => Promise<Response>;

/** Seconds a client refused during the drain is told to wait: a restarted proxy is usually back by then. */
const RETRY_AFTER_SECONDS = 1;

/** The 503s of {@link refuseWhileDraining}, so the access log can say `shutdown` for them. */
const refusals = new WeakSet<Response>();

/**
 * Whether `response` is the 503 of a request that arrived during the shutdown's drain.
 *
 * @param response A response the handler of {@link refuseWhileDraining} returned.
 * @returns True for the drain's 503.
 * @example
 * ```ts
 * const outcome = isDrainRefusal(response) ? 'shutdown' : 'passed';
 * ```
 */
export function isDrainRefusal(response: Response): boolean {
  return refusals.has(response);
}

/**
 * Answer every request that arrives once `isDraining()` says so with a `503` (`Connection: close`,
 * `Retry-After: 1`) instead of starting its work: as nginx and Envoy do while draining, the client learns that
 * it may send the request again elsewhere, where a reset would leave it guessing whether it ran.
 *
 * @param handler The handler of requests while serving.
 * @param isDraining Whether the shutdown has begun.
 * @returns A handler with the same signature.
 * @example
 * ```ts
 * let draining = false;
 * const handler = refuseWhileDraining(proxy, () => draining);
 * ```
 */
export function refuseWhileDraining<Node>(handler: Handler<Node>, isDraining: () => boolean): Handler<Node> {
  return async function refuseOrHandle(request, node) {
    if (!isDraining()) return handler(request, node);
    // Its body is not read: the connection closes after the answer, so nothing is left to frame.
    const response = new Response('shutting down\n', {
      status: 503,
      headers: {
        'content-type': 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
        'retry-after': String(RETRY_AFTER_SECONDS),
        connection: 'close',
      },
    });
    refusals.add(response);
    return response;
  };
}
