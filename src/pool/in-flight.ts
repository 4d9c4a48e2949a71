// The messages on board of one process, as undici keeps requests in flight: one array in board order and two
// indices, since a process reads its messages in the order they are written and answers them in that order.
//
//   entries:  | done both ways | answered, or written, not both  | neither yet |
//                               ^ written (the one being written)
//                                      ^ answered (the answer being read)
//
// Either index may be ahead of the other: an answer can come whole before its message is (a transform that
// does not wait for all of its input), and messages are written ahead of their answers. An entry leaves from
// the head once it is done both ways, or from anywhere when it is taken off (given back, released); the
// indices follow. Pure: no I/O, no clock.

/** The messages on board of one process, with which is being written and which is being answered. */
export class InFlight<T> {
  readonly #entries: T[] = [];
  /** Entries before this index are answered; the one at it is the answer being read. */
  #answered = 0;
  /** Entries before this index are written whole; the one at it is the message being written. */
  #written = 0;

  /** Messages on board: written or being written, and not yet done. */
  get length(): number {
    return this.#entries.length;
  }

  /** The entries in board order (a view: take a copy before changing the queue while walking it). */
  get entries(): readonly T[] {
    return this.#entries;
  }

  /** The message whose answer is being read: the oldest not answered yet. */
  get reading(): T | undefined {
    return this.#entries[this.#answered];
  }

  /** The message being written, or next to be: the oldest not written whole yet. */
  get writing(): T | undefined {
    return this.#entries[this.#written];
  }

  /** The newest message on board. */
  get last(): T | undefined {
    return this.#entries.at(-1);
  }

  /** Every message on board is written whole. */
  get allWritten(): boolean {
    return this.#written === this.#entries.length;
  }

  /**
   * Every message ahead of the answer being read is written whole: that answer's turn has come (one answered
   * before its transform read all of its input may still be fed, and the next cannot be written until then).
   */
  get readingHasTurn(): boolean {
    return this.#answered < this.#entries.length && this.#written >= this.#answered;
  }

  /** The position of `entry` on board, or -1. */
  indexOf(entry: T): number {
    return this.#entries.indexOf(entry);
  }

  /** The entry at `index` is answered. */
  isAnswered(index: number): boolean {
    return index < this.#answered;
  }

  /** Take a message on board, behind the others. */
  push(entry: T): void {
    this.#entries.push(entry);
  }

  /** The answer being read is complete: returns its entry, and the next one becomes the answer being read. */
  answer(): T {
    const entry = this.#entries[this.#answered];
    if (entry === undefined) throw new RangeError('No message on board is waiting for its answer');
    this.#answered++;
    return entry;
  }

  /** The message being written is written whole: returns its entry. */
  write(): T {
    const entry = this.#entries[this.#written];
    if (entry === undefined) throw new RangeError('No message on board is waiting to be written');
    this.#written++;
    return entry;
  }

  /** The oldest message, if it is done both ways, taken off the board; else undefined. */
  shiftDone(): T | undefined {
    if (this.#answered === 0 || this.#written === 0) return undefined;
    this.#answered--;
    this.#written--;
    return this.#entries.shift();
  }

  /** Take off every entry `test` picks; returns them in board order. The indices keep pointing at the same entries. */
  remove(test: (entry: T, index: number) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    let answered = this.#answered;
    let written = this.#written;
    this.#entries.forEach((entry, index) => {
      if (!test(entry, index)) {
        kept.push(entry);
        return;
      }
      removed.push(entry);
      if (index < this.#answered) answered--;
      if (index < this.#written) written--;
    });
    this.#entries.splice(0, this.#entries.length, ...kept);
    this.#answered = answered;
    this.#written = written;
    return removed;
  }
}
