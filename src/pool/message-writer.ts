// The input side of one process: each message written batch by batch with backpressure, and the messages on
// board written one after another (BoardWriter). What a write failure means is for the process to judge.
/** How far a message is written to its process, and what the writes showed. */
export interface MessageProgress {
  /** `waiting` until its first byte goes to the pipe. */
  input: 'waiting' | 'writing' | 'written';
  /**
   * Its stdin was closed before this message: the first write failed (it fits the pipe whole, so the failure
   * cannot be a process that read part of it and died).
   */
  foundDead: boolean;
}

/** What writing one message needs from the exchange and the process. */
interface MessageTarget {
  /** The next batch; undefined once all is written, 'stale' once the exchange moved on. */
  nextBatch(): Promise<Uint8Array[] | undefined | 'stale'>;
  /** The message's progress while its process is still busy with it. */
  current(): MessageProgress | undefined;
  /** One writev to stdin; throws once stdin is closed. */
  write(batch: readonly Uint8Array[], onWritten: (error?: Error | null) => void): boolean;
  drained(): Promise<void>;
  /** The process wrote output for this message: it read it. */
  hasOutput(): boolean;
  /**
   * Nothing else is in the pipe (the process held no other message): a failure of the first write, which fits
   * an empty pipe whole (with whatever leaves in the same writev: the writer holds at most that much), then
   * shows the process was gone before it. Behind other messages it shows nothing.
   */
  emptyPipe: boolean;
}

/**
 * An empty pipe takes this much in one write (Linux's default pipe capacity; a socket pair takes more), so
 * a first write this small that fails means the process was gone before the message, not killed by it.
 */
const PIPE_CAPACITY = 64 * 1024;

/**
 * Write a message, batch by batch, with backpressure. Resolves true once all of it is written, false when
 * the exchange moved on or stdin failed (the process is gone or going: its exit decides between a retry and
 * a failure).
 */
async function writeMessage(target: MessageTarget): Promise<boolean> {
  try {
    for (;;) {
      const batch = await target.nextBatch();
      const progress = target.current();
      if (batch === 'stale' || progress === undefined) return false;
      if (batch === undefined) return true;
      let rest = batch;
      if (progress.input === 'waiting') {
        progress.input = 'writing';
        // At most a pipe's capacity first, in one system call, so a failure of this write can only mean the
        // pipe was closed before the message.
        const [first, after] = splitBatch(batch, PIPE_CAPACITY);
        rest = after;
        try {
          target.write(first, (error) => {
            if (error && target.emptyPipe && !target.hasOutput()) progress.foundDead = true;
          });
        } catch (error) {
          // Its stdin was closed already.
          progress.foundDead = true;
          throw error;
        }
      }
      if (rest.length > 0 && !target.write(rest, () => {})) await target.drained();
    }
  } catch {
    return false;
  }
}

/** The first `size` bytes of `batch`, and the rest: views, never copies. */
function splitBatch(batch: readonly Uint8Array[], size: number): [Uint8Array[], Uint8Array[]] {
  const first: Uint8Array[] = [];
  const rest: Uint8Array[] = [];
  let room = size;
  for (const view of batch) {
    if (room >= view.byteLength) {
      first.push(view);
      room -= view.byteLength;
    } else if (room > 0) {
      first.push(view.subarray(0, room));
      rest.push(view.subarray(room));
      room = 0;
    } else rest.push(view);
  }
  return [first, rest];
}

/** What writing the messages on board needs from the process. */
export interface BoardTarget<W extends MessageProgress> {
  /** The message being written, or next to be, while the process is busy. */
  next(): W | undefined;
  /** How to write `work`; `emptyPipe` as {@link MessageTarget.emptyPipe}. */
  target(work: W, emptyPipe: boolean): MessageTarget;
  /** The messages of one turn go out in one writev. */
  holdWritesForTurn(): void;
  /** `work` is written whole; false when the process is going or `work` moved on (the stop decides). */
  onWritten(work: W): boolean;
}

/**
 * Writes the messages on board of one process, each after the one before it, while any waits: one loop at a
 * time, and a message that comes on board while it runs is taken by the loop under way.
 */
export class BoardWriter<W extends MessageProgress> {
  readonly #board: BoardTarget<W>;
  #running = false;

  constructor(board: BoardTarget<W>) {
    this.#board = board;
  }

  /** `afterTurn`: the process was idle, so one turn of the event loop passes first (see {@link nextTurn}). */
  start(afterTurn: boolean): void {
    if (this.#running) return;
    this.#running = true;
    void this.#write(afterTurn).finally(() => {
      this.#running = false;
    });
  }

  async #write(afterTurn: boolean): Promise<void> {
    if (afterTurn) await nextTurn();
    for (let emptyPipe = afterTurn; ; emptyPipe = false) {
      const work = this.#board.next();
      if (work === undefined || work.input !== 'waiting') return;
      // The messages of one turn go out in one writev, as long as they fit an empty pipe together: a
      // failure of the first message's first write then still tells a process found dead.
      this.#board.holdWritesForTurn();
      if (!(await writeMessage(this.#board.target(work, emptyPipe)))) return;
      if (!this.#board.onWritten(work)) return;
    }
  }
}

/**
 * Resolves after the event loop has polled for I/O once: an immediate queued from the poll phase runs before
 * the next poll, so a second one, queued from the first, runs after it. Waited before the first message to a
 * process that was idle: an exit or a closed stdout that already happened is heard before a byte is written,
 * so a process found dead never had that message, and it is retried.
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}
