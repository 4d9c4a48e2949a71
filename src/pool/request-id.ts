/**
 * A new `Transform-Request-Id`: random, not a counter, so no transform can answer a message before it has
 * read it, and an answer written twice can never pass for the next message's. A random prefix and a counter
 * would not do: one id read gives away every later one. `randomUUID` draws its entropy in batches and costs
 * about 0.2 µs, too little to trade 122 random bits for.
 */
export function createRequestId(): string {
  return crypto.randomUUID();
}

/**
 * The rule for the ids a process echoes: an answer names the message in flight; a missing id is refused
 * unless `requireRequestId` is false, and even then once a process has echoed an id it must always.
 */
export class RequestIdCheck {
  readonly #required: boolean;
  #echoes = false;

  constructor(required: boolean) {
    this.#required = required;
  }

  /** What is wrong with an answer carrying `got` for the message `expected`, or undefined. */
  check(expected: string, got: string | undefined): string | undefined {
    if (got === undefined) {
      if (this.#required) {
        return 'answered without the Transform-Request-Id of its message: copy that header from the input to the answer';
      }
      return this.#echoes ? 'stopped echoing Transform-Request-Id' : undefined;
    }
    if (got !== expected) {
      return `answered with Transform-Request-Id ${JSON.stringify(got.slice(0, 64))}, not the id of the message in flight`;
    }
    this.#echoes = true;
    return undefined;
  }
}

/**
 * The most ids of answered messages a process remembers. A duplicate later than this is still refused, as a
 * wrong id, only charged to the message in flight; the bound keeps a process that serves for ever small.
 */
export const MAX_ANSWERED_IDS = 10_000;

/**
 * The ids a process has answered, oldest dropped first past a bound ({@link MAX_ANSWERED_IDS}). The order is
 * kept in a ring, not read back from the set: a set's first entry is found by skipping every entry deleted
 * before it, so dropping the oldest through an iterator costs more with every id once the bound is reached.
 */
export class AnsweredIds {
  readonly #ids = new Set<string>();
  /** The ids in the order they were added; `#next` is the oldest once the ring is full. */
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(max = MAX_ANSWERED_IDS) {
    this.#ring = new Array<string | undefined>(max).fill(undefined);
  }

  add(id: string): void {
    if (this.#ids.has(id)) return;
    const oldest = this.#ring[this.#next];
    if (oldest !== undefined) this.#ids.delete(oldest);
    this.#ring[this.#next] = id;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#ids.add(id);
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }
}
