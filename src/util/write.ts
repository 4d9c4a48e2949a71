import type { Writable } from 'node:stream';

/**
 * Write views as one `writev` (cork, write each, uncork): no copy, one system call for a head and its body
 * or a chunk and its framing. Returns false when the stream wants a `drain` first. `onWritten` hears how
 * the write ended (an error such as EPIPE included).
 */
export function writeBatch(
  writable: Writable,
  batch: readonly Uint8Array[],
  onWritten?: (error?: Error | null) => void,
): boolean {
  if (batch.length === 1) return writable.write(batch[0], onWritten);
  writable.cork();
  let ok = true;
  for (let i = 0; i < batch.length; i++) {
    ok = writable.write(batch[i], i === batch.length - 1 ? onWritten : undefined) && ok;
  }
  writable.uncork();
  return ok;
}

/** Resolve on `drain`; reject when the stream fails or closes first, so a dead pipe never hangs a writer. */
export function waitForDrain(writable: Writable): Promise<void> {
  if (writable.destroyed || writable.writableEnded) {
    return Promise.reject(new Error('Cannot write: the stream is closed'));
  }
  return new Promise((resolve, reject) => {
    const settle = (error?: Error): void => {
      writable.off('drain', onDrain);
      writable.off('error', onError);
      writable.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = (): void => settle();
    const onError = (error: Error): void => settle(error);
    const onClose = (): void => settle(new Error('Cannot write: the stream closed'));
    writable.on('drain', onDrain);
    writable.on('error', onError);
    writable.on('close', onClose);
  });
}
