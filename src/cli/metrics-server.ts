import { createMetricsHandler } from '../metrics/handler.ts';
import type { TransformPool } from '../shared/transform-pool.ts';
import { type Served, type ServeOptions, serveFetch } from './node-http.ts';

/** The path Prometheus scrapes by default. */
export const METRICS_PATH = '/metrics';

/**
 * Serve the pool's metrics at `/metrics` on a port of their own, apart from the proxied traffic (an operator
 * keeps it off the public listener); any other path is 404.
 *
 * @param pool The proxy's pool.
 * @param options Port (0 for any free one) and address to listen on.
 * @returns The server; its `url` has no path.
 * @example
 * ```ts
 * const server = await serveMetrics(pool, { port: 9464, host: '127.0.0.1' });
 * await fetch(`${server.url}/metrics`); // 200, text/plain; version=0.0.4
 * ```
 */
export function serveMetrics(pool: TransformPool, options: ServeOptions): Promise<Served> {
  const metrics = createMetricsHandler(pool);
  return serveFetch(function routeMetrics(request) {
    if (new URL(request.url).pathname === METRICS_PATH) return metrics(request);
    return new Response(`Not found: metrics are at ${METRICS_PATH}\n`, { status: 404 });
  }, options);
}
