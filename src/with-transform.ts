import { createErrorResponse, TransformError } from './errors.ts';
import type { OnError, ResolvedOptions, TransformOptions } from './options.ts';
import { Pool, type TransformPool } from './pool/pool.ts';

/** A fetch-style handler: Bun's `server`, a Workers `ctx` and the like pass through as `rest`. */
export type FetchHandler<Rest extends unknown[] = unknown[]> = (
  request: Request,
  ...rest: Rest
) => Response | Promise<Response>;

/** The wrapped handler, with the pool it sends responses through. */
export type TransformedHandler<Rest extends unknown[]> = ((
  request: Request,
  ...rest: Rest
) => Promise<Response>) & {
  readonly pool: TransformPool;
};

async function handleError(
  error: unknown,
  onError: OnError,
  request: Request | undefined,
  original: Response | undefined,
): Promise<Response> {
  if (!(error instanceof TransformError)) throw error;
  let response: Response;
  if (typeof onError === 'function') response = await onError(error, request, original);
  else if (onError === 'passthrough' && original !== undefined) response = original;
  else response = createErrorResponse(error);
  // An original left unsent may hold a socket (an upstream fetch body): let it go now, not at GC.
  if (response !== original) discardBody(original);
  return response;
}

function discardBody(response: Response | undefined): void {
  if (response?.body && !response.bodyUsed && !response.body.locked) response.body.cancel().catch(() => {});
}

/**
 * Run one response through the pool's transform with the pool's selection, error and after-transform
 * options: what `withTransform` and the Hono middleware share.
 */
export async function transformResponse(
  pool: Pool,
  response: Response,
  request: Request | undefined,
): Promise<Response> {
  const options: ResolvedOptions = pool.options;
  if (!(await options.select(response, request))) return response;
  const exchange = pool.start(response, { request, signal: request?.signal });
  let transformed: Response;
  try {
    transformed = await exchange.result;
  } catch (error) {
    return handleError(error, options.onError, request, exchange.original);
  }
  const replacement = await options.afterTransform?.(transformed, request);
  if (replacement === undefined || replacement === transformed) return transformed;
  // A dropped transformed body would keep its process busy, paused on a reader that never comes.
  discardBody(transformed);
  return replacement;
}

/**
 * Wrap a fetch-style handler so each response it produces goes through a long-lived transform process.
 * Responses the selection rejects are returned untouched, body unread. Pass a pool instead of options to
 * share one between handlers.
 *
 * @param handler Any `(request, ...rest) => Response` handler: Hono's `app.fetch`, a Bun or Deno handler.
 * @param optionsOrPool Transform options, or a pool from `createTransformPool`.
 * @returns A handler of the same shape, with a `pool` property.
 * @example
 * ```ts
 * import { withTransform } from 'subprocess-transform';
 * const handler = withTransform(() => Response.json({ hello: 'world' }), { command: ['node', 'render.js'] });
 * const response = await handler(new Request('http://localhost/'));
 * ```
 */
export function withTransform<Rest extends unknown[]>(
  handler: FetchHandler<Rest>,
  optionsOrPool: TransformOptions | TransformPool,
): TransformedHandler<Rest> {
  if (typeof handler !== 'function')
    throw new TypeError(`Expected \`handler\` to be a function, got ${typeof handler}`);
  const pool = optionsOrPool instanceof Pool ? optionsOrPool : new Pool(optionsOrPool as TransformOptions);
  async function transformed(request: Request, ...rest: Rest): Promise<Response> {
    return transformResponse(pool, await handler(request, ...rest), request);
  }
  return Object.assign(transformed, { pool });
}
