// Deterministic pseudo-random bytes: the servers stream them, the tests hash the same bytes to compare.

const CHUNK_BYTES = 64 * 1024;

/** Fill `chunk` with the xorshift32 sequence, going on from `state`; returns the next state. */
function fill(chunk: Uint8Array, state: number): number {
  let x = state;
  for (let i = 0; i < chunk.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    chunk[i] = x & 0xff;
  }
  return x;
}

/** The first `size` bytes of the sequence, in chunks of 64 KiB. */
export function* pseudoRandomChunks(size: number): Generator<Uint8Array<ArrayBuffer>> {
  let state = 0x9e3779b9;
  for (let offset = 0; offset < size; offset += CHUNK_BYTES) {
    const chunk = new Uint8Array(Math.min(CHUNK_BYTES, size - offset));
    state = fill(chunk, state);
    yield chunk;
  }
}

/** The same bytes as a stream that makes each chunk only when the reader asks for it. */
export function pseudoRandomStream(size: number): ReadableStream<Uint8Array<ArrayBuffer>> {
  const chunks = pseudoRandomChunks(size);
  return new ReadableStream(
    {
      pull(controller) {
        const next = chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
    },
    { highWaterMark: 0 },
  );
}
