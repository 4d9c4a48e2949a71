// What each exchange (exchange.ts) of a pool is made of: the part it shares with every exchange of its pool
// (settings, statistics, the queue), and its own part, taken from the Response it transforms. pool.ts makes
// both and queues the exchange.
import { decodeContent, isEncoded } from '../shared/content-coding.ts';
import type { ResolvedOptions } from '../shared/pool-options.ts';
import type { StatsRecorder } from '../shared/stats.ts';
import { startTransformTrace, type TraceIdentity } from '../shared/tracing.ts';
import type { TransformInit } from '../shared/transform-pool.ts';
import type { Exchange, ExchangeOwner } from './exchange.ts';
import type { ExchangeInit } from './exchange-host.ts';
import { getContextFields } from './message-source.ts';
import { createRequestId } from './request-id.ts';
import type { WaitQueue } from './wait-queue.ts';

/** The part every exchange of a pool shares: its settings, its statistics, its queue. */
export function createExchangeOwner(
  options: ResolvedOptions,
  stats: StatsRecorder,
  queue: WaitQueue<Exchange>,
  requeue: (retried: Exchange) => void,
): ExchangeOwner {
  const { timeout, startTimeout, clientBuffer, clientTimeout, preserveValidators } = options;
  return {
    timeout,
    startTimeout,
    clientBuffer,
    clientTimeout,
    preserveValidators,
    delivered: (latency) => stats.delivered(latency),
    succeeded: () => stats.ok++,
    failed: (error) => stats.failedWith((error as { code?: string }).code),
    dequeue: (queued) => queue.remove(queued),
    requeue,
  };
}

/**
 * One transform's own part: `response` (decoded when the pool decodes), a fresh id, the request context the
 * message carries, and its span as `traceAs`. A `TypeError` for anything but a Response whose body is unread.
 */
export function createExchangeInit(
  response: Response,
  init: TransformInit,
  options: ResolvedOptions,
  traceAs: TraceIdentity,
): ExchangeInit {
  if (!(response instanceof Response)) {
    throw new TypeError(
      `Expected a Response to transform, got ${response === null ? 'null' : typeof response}`,
    );
  }
  if (response.bodyUsed || response.body?.locked) {
    throw new TypeError('Cannot transform a Response whose body was already read');
  }
  const id = createRequestId();
  return {
    id,
    response: options.decode && isEncoded(response) ? decodeContent(response) : response,
    signal: init.signal,
    fields: [...getContextFields(options.contextHeaders, init.request), ['Transform-Request-Id', id]],
    trace: startTransformTrace(traceAs),
  };
}
