import type { Context, Env, MiddlewareHandler, Next } from 'hono';
import type { TransformPool } from '../shared/transform-pool.ts';
import { resolveTransformStep, type TransformTarget, transformResponse } from '../wrapper/with-transform.ts';

/** The middleware, with the pool it sends responses through (close it on shutdown). */
export type TransformMiddleware = MiddlewareHandler<Env> & { readonly pool: TransformPool };

/**
 * Hono middleware that sends each response of the routes it covers through a long-lived transform process.
 * It runs after `await next()`: responses the selection rejects are left as they are, body unread; others
 * are replaced by the transformed response, with the transform's headers only (no stale Content-Length,
 * strong ETag or header the transform removed). Middleware registered before it (`compress()`, an ETag)
 * sees the transformed response.
 *
 * @param options Pool and selection options (a pool of its own); a pool from `createTransformPool` to share
 * (default selection); or `{ pool, ...selection }` to share a pool with a selection of its own.
 * @returns The middleware, with a `pool` property.
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { compress } from 'hono/compress';
 * import { transform } from 'subprocess-transform/hono';
 *
 * const app = new Hono();
 * app.use(compress());
 * app.use('/pages/*', transform({ command: ['node', 'render.js'], contentType: 'application/json' }));
 * app.get('/pages/:name', (c) => c.json({ name: c.req.param('name') }));
 * ```
 */
export function transform(options: TransformTarget): TransformMiddleware {
  const step = resolveTransformStep(options, 'transform');
  async function transform(c: Context<Env>, next: Next): Promise<void> {
    await next();
    const original = c.res;
    const transformed = await transformResponse(step, original, c.req.raw);
    if (transformed === original) return;
    // Setting c.res copies every header of the response it replaces onto the new one (a Content-Length
    // that no longer fits, a strong ETag, headers the transform removed): clear it first.
    c.res = undefined;
    c.res = transformed;
  }
  return Object.assign(transform, { pool: step.pool });
}
