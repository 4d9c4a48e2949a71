import type { Writable } from 'node:stream';

/**
 * Bytes a writer leaves queued before it waits for `drain`: a few pipes' worth, so the next chunk is queued
 * already when a pipe empties and libuv refills it without a round through JavaScript. A stream's own mark
 * (16 KiB) would stop the writer after every 64 KiB chunk. What is queued is the caller's chunks, not copies.
 */
const MAX_QUEUED_BYTES = 256 * 1024;

/**
 * Write views as one `writev` (cork, write each, uncork): no copy, one system call for a head and its body
 * or a chunk and its framing. Returns false once the stream is past its mark and more than MAX_QUEUED_BYTES
 * wait: the writer should wait for `drain` ({@link waitForDrain}). `onWritten` hears how the write ended (an error such as EPIPE included).
 */
export function writeBatch(
  writable: Writable,
  batch: readonly Uint8Array[],
  onWritten?: (error?: Error | null) => void,
): boolean {
  let ok: boolean;
  if (batch.length === 1) ok = writable.write(batch[0], onWritten);
  else {
    writable.cork();
    ok = true;
    for (let i = 0; i < batch.length; i++) {
      ok = writable.write(batch[i], i === batch.length - 1 ? onWritten : undefined) && ok;
    }
    writable.uncork();
  }
  // Past the stream's own mark a `drain` is due (the write said so): go on while little is queued.
  return ok || writable.writableLength <= MAX_QUEUED_BYTES;
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
