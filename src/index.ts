export { TransformError, type TransformErrorCode } from './errors.ts';
export { formatMetrics, type MetricsOptions, type MetricsSource } from './metrics/format.ts';
export { createMetricsHandler } from './metrics/handler.ts';
export type { PoolOptions, RecycleInfo, TransformOptions } from './options.ts';
export type { ExitReason, ProcessEvent } from './pool/events.ts';
export { createTransformPool, type TransformInit, type TransformPool } from './pool/pool.ts';
export type {
  LatencyHistogram,
  LatencyStats,
  PoolStats,
  ProcessState,
  ProcessStats,
} from './pool/stats.ts';
export type { StderrOption } from './pool/stderr.ts';
export { type ContentTypeMatcher, isTransformable, type ShouldTransform } from './select.ts';
export type { OnError, SelectionOptions } from './selection.ts';
export {
  type FetchHandler,
  type SharedPoolOptions,
  type TransformedHandler,
  type TransformTarget,
  withTransform,
} from './with-transform.ts';
