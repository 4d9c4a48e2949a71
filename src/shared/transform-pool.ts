import type { PoolStats } from './stats.ts';

/** Options of one {@link TransformPool.transform} call. */
export interface TransformInit {
  /** The request the response answers: its method, URL and chosen headers go to the transform. */
  request?: Request;
  /** Aborts the transform while it waits or before its response begins (the client left). */
  signal?: AbortSignal;
}

/** A pool of long-lived transform processes. */
export interface TransformPool extends AsyncDisposable {
  /**
   * Send a response through a transform process; rejects with a {@link TransformError}. It always
   * transforms: which responses to send is for `withTransform` and the Hono middleware to decide. A response
   * it rejects before reading any of its body (closed pool, full queue, client gone while queued) is left
   * unread, the caller's to send or cancel.
   */
  transform(response: Response, init?: TransformInit): Promise<Response>;
  stats(): PoolStats;
  /** Replace every process with a fresh one, without failing a transform in flight. */
  reload(): Promise<void>;
  /**
   * Take no more work (new calls fail with `ERR_TRANSFORM_CLOSED`), let work in flight and queued finish
   * within `timeout` ms, end each process's stdin, then SIGTERM, then SIGKILL. Idempotent.
   */
  close(options?: { timeout?: number }): Promise<void>;
}
