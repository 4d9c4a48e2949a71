import { CONTENT_TYPE } from './exposition.ts';
import { formatMetrics, type MetricsOptions, type MetricsSource } from './format.ts';

/**
 * A fetch handler that answers every GET (and HEAD) with {@link formatMetrics} of the pools, as a Prometheus
 * scrape expects; other methods get 405. Mount it at the path you scrape, such as `/metrics`.
 *
 * @param source A pool, or an object of pools by name (each name becomes a `pool` label).
 * @param options As for {@link formatMetrics}.
 * @returns The handler.
 * @example
 * ```ts
 * import { createMetricsHandler, createTransformPool } from 'subprocess-transform';
 * await using pool = createTransformPool({ command: ['cat'], processes: 1 });
 * const metrics = createMetricsHandler(pool);
 * const response = await metrics(new Request('http://localhost/metrics'));
 * console.log(response.headers.get('content-type')); // 'text/plain; version=0.0.4; charset=utf-8'
 * ```
 */
export function createMetricsHandler(
  source: MetricsSource,
  options: MetricsOptions = {},
): (request: Request) => Response {
  // Fail at setup, not at the first scrape, on a wrong pool or prefix.
  formatMetrics(source, options);
  return function serveMetrics(request) {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return new Response('Method not allowed\n', { status: 405, headers: { allow: 'GET, HEAD' } });
    }
    const body = request.method === 'HEAD' ? null : formatMetrics(source, options);
    return new Response(body, { headers: { 'content-type': CONTENT_TYPE, 'cache-control': 'no-store' } });
  };
}
