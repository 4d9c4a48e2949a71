/** What {@link readAvailable} found. */
export interface Available {
  chunks: Uint8Array[];
  bytes: number;
  /** The body ended within the bound, so its length is known. */
  done: boolean;
  /** A read still under way when the look-ahead stopped; its result comes next. */
  pending?: Promise<ReadableStreamReadResult<Uint8Array>>;
}

const NEXT_TASK = Symbol('next task');

// A macrotask runs only after every queued microtask: whatever a body yields before it did not have to wait.
const scheduleTask: (callback: () => void) => () => void =
  typeof setImmediate === 'function'
    ? (callback) => {
        const id = setImmediate(callback);
        return () => clearImmediate(id);
      }
    : (callback) => {
        const id = setTimeout(callback, 0);
        return () => clearTimeout(id);
      };

/** Check one body chunk: Bun lets a stream yield strings, Node and Deno do not; nor does this codec. */
export function toBodyChunk(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new TypeError(`Expected the response body to yield Uint8Array chunks, got ${typeof value}`);
}

/**
 * Read what a body yields without waiting on I/O, up to `maxBytes`: a string or bytes body, or a stream
 * that has already ended, is read whole; a body still being produced stops the look-ahead at once.
 */
export async function readAvailable(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  maxBytes: number,
): Promise<Available> {
  let cancelTask = (): void => {};
  const nextTask = new Promise<typeof NEXT_TASK>((resolve) => {
    cancelTask = scheduleTask(() => resolve(NEXT_TASK));
  });
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  try {
    while (bytes <= maxBytes) {
      const read = reader.read();
      const result = await Promise.race([read, nextTask]);
      if (result === NEXT_TASK) return { chunks, bytes, done: false, pending: read };
      if (result.done) return { chunks, bytes, done: true };
      const chunk = toBodyChunk(result.value);
      if (chunk.byteLength === 0) continue;
      chunks.push(chunk);
      bytes += chunk.byteLength;
    }
    return { chunks, bytes, done: false };
  } finally {
    cancelTask();
  }
}
