/** What {@link watchBody} tells of a body, and what its copy does once the source has failed. */
export interface BodyWatcher {
  /** Each chunk's size in bytes, as the chunk is passed on. */
  onChunk?(bytes: number): void;
  /** Once, when the source fails (a cancel is no failure), whether or not a read is pending. */
  onFailure(error: unknown): void;
  /**
   * After a failure the copy is either errored with it (`'error'`: a reader or an outer watcher learns of it), or
   * held (`'hold'`): no read of it ever settles, so its reader never hears of the failure and has nothing to
   * report (the caller has dealt with it, for example by breaking the connection).
   */
  afterFailure: 'error' | 'hold';
}

/**
 * A copy of `body` that tells `watcher` of each chunk and of the source's failure, pulling one chunk per read
 * (no read-ahead, so backpressure is the reader's). A failure is told also when no read is pending (a client
 * that reads nothing, its response ended past `clientTimeout`): the server waits on such a client and would
 * never ask.
 *
 * @param body The stream to watch; it is locked to the copy.
 * @param watcher What to call, and what the copy does after a failure.
 * @returns The copy, to hand on in place of `body`; cancelling it cancels `body`.
 * @example
 * ```ts
 * let bytes = 0;
 * const body = watchBody(response.body, { onChunk: (n) => (bytes += n), onFailure: console.error, afterFailure: 'error' });
 * ```
 */
export function watchBody(
  body: ReadableStream<Uint8Array>,
  watcher: BodyWatcher,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let failed = false;
  function fail(controller: ReadableStreamDefaultController<Uint8Array>, error: unknown): void {
    // A pending read and `closed` both reject on one failure: it is told once.
    if (failed) return;
    failed = true;
    watcher.onFailure(error);
    if (watcher.afterFailure === 'error') controller.error(error);
  }
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        reader.closed.catch((error: unknown) => fail(controller, error));
      },
      async pull(controller) {
        let read: ReadableStreamReadResult<Uint8Array>;
        try {
          read = await reader.read();
        } catch (error) {
          fail(controller, error);
          return;
        }
        if (read.done) controller.close();
        else {
          watcher.onChunk?.(read.value.byteLength);
          controller.enqueue(read.value);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
