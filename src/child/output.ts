import { Buffer } from 'node:buffer';
import type { Writable } from 'node:stream';
import { writeBatch } from '../util/write.ts';
import { writeProtocol } from './console.ts';

/** Answers joined into one buffer up to this size; larger ones go out as views, uncopied, in one writev. */
const JOIN_MAX_BYTES = 64 * 1024;

/**
 * Where answers go: an answer leaves in one write, head and body joined, as soon as it is complete. It is never
 * held for the answers behind it, though that would save a write each: the next call may end the process
 * (`process.exit`, a crash) and take a held answer with it, failing a message that was answered.
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

  constructor(stream: Writable) {
    this.stream = stream;
  }

  /** Queue the views of an answer, or part of one; {@link flush} writes them. */
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

  /** Write everything queued, in one write. False when the stream wants a drain first. */
  flush(): boolean {
    // The protocol's own write: a guarded process.stdout lets it through (see guardStdout).
    return writeProtocol(() => this.#flush());
  }

  #flush(): boolean {
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
