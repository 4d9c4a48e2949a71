import { Buffer } from 'node:buffer';
import type { Writable } from 'node:stream';
import { clearImmediate, setImmediate } from 'node:timers';
import { writeBatch } from '../util/write.ts';

/** Answers joined into one buffer up to this size; larger ones go out as views, uncopied, in one writev. */
const JOIN_MAX_BYTES = 64 * 1024;
/** How long an answer may wait for those behind it, and how quick a transform must be for it to wait. */
const HOLD_MS = 1;
/**
 * Quick calls in a row before answers wait: a held answer also waits for the next call, so a transform that
 * is often slow (renders some responses, passes others) holds none, and one slow once in a while delays a
 * held answer by that one call at most.
 */
const QUICK_CALLS = 16;

/**
 * Where answers go. A write to a pipe costs more than a quick transform (a system call, and waking the
 * reader), so answers that are ready while more messages wait behind them leave together, in one write, as
 * long as the transform has been quick for {@link QUICK_CALLS} calls in a row: an answer is held at most about
 * {@link HOLD_MS} and one call, and never while the program waits for anything (a task flushes it).
 *
 * `failed` is the only sign that the reader is gone: process.stdout is never destroyed and takes writes
 * after an EPIPE as if nothing happened, so its `error` event sets it.
 */
export class AnswerOutput {
  readonly stream: Writable;
  failed = false;
  /** What waits to be written: byte views, and heads as text (Latin-1, one byte a character). */
  #parts: (Uint8Array | string)[] = [];
  #bytes = 0;
  /** When the oldest held answer was ready, or undefined when nothing is held. */
  #heldSince: number | undefined;
  /** Calls in a row that took under {@link HOLD_MS}. */
  #quickCalls = 0;
  #flushTask: ReturnType<typeof setImmediate> | undefined;

  constructor(stream: Writable) {
    this.stream = stream;
  }

  /** Queue the views of an answer, or part of one; {@link flush} or {@link settle} writes them. */
  add(views: readonly Uint8Array[]): void {
    for (const view of views) {
      this.#parts.push(view);
      this.#bytes += view.byteLength;
    }
  }

  /** Queue a head as text, encoded only into the buffer written: no buffer of its own. */
  addHead(head: string): void {
    this.#parts.push(head);
    this.#bytes += head.length;
  }

  /**
   * An answer is complete, `took` ms after its transform was called: hold it if more messages are ready
   * and the transform is quick, else write everything queued. False when the stream wants a drain first.
   */
  settle(moreReady: boolean, took: number): boolean {
    this.#quickCalls = took < HOLD_MS ? this.#quickCalls + 1 : 0;
    if (moreReady && this.#quickCalls > QUICK_CALLS && this.#bytes < JOIN_MAX_BYTES) {
      const now = performance.now();
      this.#heldSince ??= now;
      if (now - this.#heldSince < HOLD_MS) {
        this.#flushTask ??= setImmediate(() => {
          this.#flushTask = undefined;
          this.flush();
        });
        return true;
      }
    }
    return this.flush();
  }

  /** Write everything queued, in one write. False when the stream wants a drain first. */
  flush(): boolean {
    if (this.#flushTask !== undefined) clearImmediate(this.#flushTask);
    this.#flushTask = undefined;
    this.#heldSince = undefined;
    const parts = this.#parts;
    const bytes = this.#bytes;
    if (parts.length === 0 || this.failed) return true;
    this.#parts = [];
    this.#bytes = 0;
    if (bytes > JOIN_MAX_BYTES) {
      const views = parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : part));
      return writeBatch(this.stream, views);
    }
    const [only] = parts;
    if (parts.length === 1 && only instanceof Uint8Array) return this.stream.write(only);
    // One copy of a few KiB costs less than a writev of many views.
    const joined = Buffer.allocUnsafe(bytes);
    let offset = 0;
    for (const part of parts) {
      if (typeof part === 'string') offset += joined.write(part, offset, 'latin1');
      else {
        joined.set(part, offset);
        offset += part.byteLength;
      }
    }
    return this.stream.write(joined);
  }
}
