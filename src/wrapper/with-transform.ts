import { Pool } from '../pool/pool.ts';
import { getPoolDecode, isTransformPool } from '../shared/brand.ts';
import { createErrorResponse, isTransformError } from '../shared/errors.ts';
import { POOL_KEYS, type PoolSettings } from '../shared/pool-options.ts';
import type { TransformPool } from '../shared/transform-pool.ts';
import { describeValue } from '../util/describe-value.ts';
import { validateKnownKeys } from '../util/known-keys.ts';
import { createTransformPool } from './create-pool.ts';
import {
  type OnError,
  resolveSelection,
  SELECTION_KEYS,
  type Selection,
  type SelectionOptions,
} from './selection-options.ts';

/**
 * Options of `withTransform` and the Hono middleware: the pool's options (`PoolOptions`) plus the
 * selection options, which decide what goes through the pool and what happens around it.
 */
export interface TransformOptions extends PoolSettings, SelectionOptions {}

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

/**
 * A shared pool with a selection of its own. The pool's own options were fixed when it was made, so they are
 * a compile error here.
 */
export interface SharedPoolOptions extends SelectionOptions, Partial<Record<keyof PoolSettings, never>> {
  /** A pool from `createTransformPool`, from this copy of the package or another. */
  pool: TransformPool;
}

/**
 * What `withTransform` and the Hono middleware take: options for a pool of their own plus selection, a pool
 * to share (selected with the defaults), or a pool to share with a selection of its own.
 */
export type TransformTarget = TransformOptions | TransformPool | SharedPoolOptions;

/** A pool and the selection to apply in front of it: what `withTransform` and the middleware run. */
export interface TransformStep {
  pool: TransformPool;
  selection: Selection;
}

/** Keys of the options for a pool of its own: the pool's and the selection's. */
const TRANSFORM_KEYS: readonly string[] = [...POOL_KEYS, ...SELECTION_KEYS];
/** Keys of the options next to a shared pool: the selection's. */
const SHARED_KEYS: readonly string[] = ['pool', ...SELECTION_KEYS];

/**
 * Split options into a pool of their own and the selection, or take the pool they share.
 *
 * @param target What `withTransform` or the middleware was given.
 * @param caller Its name, for the message when it was given nothing usable.
 */
export function resolveTransformStep(target: TransformTarget, caller = 'withTransform'): TransformStep {
  if (isTransformPool(target))
    return { pool: target, selection: resolveSelection({}, getPoolDecode(target)) };
  if (typeof target !== 'object' || target === null) {
    throw new TypeError(
      `Expected the options of ${caller}() to be an object such as { command: ['cat'] }, a pool, or { pool, ...selection }, got ${describeValue(target)}`,
    );
  }
  if ('pool' in target) return resolveShared(target);
  validateKnownKeys(Object.keys(target), TRANSFORM_KEYS);
  const { shouldTransform, contentType, afterTransform, onError, ...poolOptions } =
    target as TransformOptions;
  const selection = resolveSelection(
    { shouldTransform, contentType, afterTransform, onError },
    poolOptions.decode !== false,
  );
  return { pool: createTransformPool(poolOptions), selection };
}

function resolveShared(options: SharedPoolOptions): TransformStep {
  const { pool } = options;
  if (!isTransformPool(pool)) {
    throw new TypeError(
      `Expected \`pool\` to be a pool made by createTransformPool, got ${describeValue(pool)}`,
    );
  }
  const given = options as unknown as Record<string, unknown>;
  // The types allow a pool option next to the pool only as undefined: it says nothing, so it is ignored.
  const poolKey = Object.keys(given).find(
    (key) => (POOL_KEYS as readonly string[]).includes(key) && given[key] !== undefined,
  );
  if (poolKey !== undefined) {
    throw new TypeError(
      `Expected only selection options next to \`pool\`, got \`${poolKey}\`: pool options are given to createTransformPool`,
    );
  }
  validateKnownKeys(
    Object.keys(given).filter((key) => !(POOL_KEYS as readonly string[]).includes(key)),
    SHARED_KEYS,
  );
  return { pool, selection: resolveSelection(options, getPoolDecode(pool)) };
}

async function handleError(
  error: unknown,
  onError: OnError,
  request: Request | undefined,
  original: Response | undefined,
): Promise<Response> {
  if (!isTransformError(error)) throw error;
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

/** A response whose body nobody has started to read can still be sent as it is. */
function isUnread(response: Response): boolean {
  return !response.bodyUsed && !response.body?.locked;
}

/** Send a response through the pool; on failure, also the original if it can still be sent. */
async function send(
  pool: TransformPool,
  response: Response,
  request: Request | undefined,
): Promise<{ ok: true; response: Response } | { ok: false; error: unknown; original: Response | undefined }> {
  const init = { request, signal: request?.signal };
  // This copy's pool can rebuild an original whose body it read whole; another copy's only through its
  // public transform(), which leaves the original usable only if it never touched the body.
  const exchange = pool instanceof Pool ? pool.start(response, init) : undefined;
  try {
    return { ok: true, response: await (exchange?.result ?? pool.transform(response, init)) };
  } catch (error) {
    const original = exchange === undefined ? (isUnread(response) ? response : undefined) : exchange.original;
    return { ok: false, error, original };
  }
}

/**
 * Run one response through the step: selection, the pool, `onError`, `afterTransform`. What `withTransform`
 * and the Hono middleware share. Returns the response itself when the selection skips it.
 */
export async function transformResponse(
  step: TransformStep,
  response: Response,
  request: Request | undefined,
): Promise<Response> {
  const { pool, selection } = step;
  if (!(await selection.select(response, request))) return response;
  const outcome = await send(pool, response, request);
  if (!outcome.ok) return handleError(outcome.error, selection.onError, request, outcome.original);
  const transformed = outcome.response;
  const replacement = await selection.afterTransform?.(transformed, request);
  if (replacement === undefined || replacement === transformed) return transformed;
  // A dropped transformed body would keep its process busy, paused on a reader that never comes.
  discardBody(transformed);
  return replacement;
}

/**
 * Wrap a fetch-style handler so each response it produces goes through a long-lived transform process.
 * Responses the selection rejects are returned untouched, body unread.
 *
 * @param handler Any `(request, ...rest) => Response` handler: Hono's `app.fetch`, a Bun or Deno handler.
 * @param options Pool and selection options (a pool of its own); a pool from `createTransformPool` to share
 * (default selection); or `{ pool, ...selection }` to share a pool with a selection of its own.
 * @returns A handler of the same shape, with a `pool` property.
 * @example
 * ```ts
 * import { withTransform } from 'subprocess-transform';
 * const handler = withTransform(() => Response.json({ hello: 'world' }), {
 *   command: ['node', 'render.js'],
 *   contentType: 'application/json',
 * });
 * const response = await handler(new Request('http://localhost/'));
 * ```
 */
export function withTransform<Rest extends unknown[]>(
  handler: FetchHandler<Rest>,
  options: TransformTarget,
): TransformedHandler<Rest> {
  if (typeof handler !== 'function')
    throw new TypeError(`Expected \`handler\` to be a function, got ${describeValue(handler)}`);
  const step = resolveTransformStep(options);
  async function transformed(request: Request, ...rest: Rest): Promise<Response> {
    return transformResponse(step, await handler(request, ...rest), request);
  }
  return Object.assign(transformed, { pool: step.pool });
}
