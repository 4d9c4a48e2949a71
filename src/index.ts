export { formatMetrics, type MetricsOptions, type MetricsSource } from './metrics/format.ts';
export { createMetricsHandler } from './metrics/handler.ts';
export { TransformError, type TransformErrorCode } from './shared/errors.ts';
export type { ExitReason, ProcessEvent } from './shared/events.ts';
export type { RecycleInfo } from './shared/pool-options.ts';
export type {
  LatencyHistogram,
  LatencyStats,
  PoolStats,
  ProcessState,
  ProcessStats,
} from './shared/stats.ts';
export type { StderrOption } from './shared/stderr.ts';
export type { TransformInit, TransformPool } from './shared/transform-pool.ts';
export { createTransformPool, type PoolOptions } from './wrapper/create-pool.ts';
export type { OnError, SelectionOptions } from './wrapper/selection-options.ts';
export { type ContentTypeMatcher, isTransformable, type ShouldTransform } from './wrapper/selector.ts';
export {
  type FetchHandler,
  type SharedPoolOptions,
  type TransformedHandler,
  type TransformOptions,
  type TransformTarget,
  withTransform,
} from './wrapper/with-transform.ts';
