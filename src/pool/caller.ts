// The caller's side of one transform: the promise it awaits, settled exactly once, and its client's abort
// signal, listened to until then. exchange.ts tells it the Response or the failure; a failure after the
// Response was handed out goes to that Response's body instead (answer-channel.ts).

/** What the pool counts when a caller is told. */
export interface CallerStats {
  /** The transformed head was handed out, this long after the call. */
  delivered(latencyMs: number): void;
}

/** waiting -> answered (the Response handed out) | rejected; each once. */
type CallerState = 'waiting' | 'answered' | 'rejected';

/** The caller's promise and abort signal. */
export class Caller {
  readonly result: Promise<Response>;
  readonly #stats: CallerStats;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;
  readonly #createdAt = performance.now();
  #state: CallerState = 'waiting';
  #resolve!: (response: Response) => void;
  #reject!: (error: unknown) => void;

  /** `onAbort` runs if `signal` aborts before the caller is told. */
  constructor(signal: AbortSignal | undefined, onAbort: () => void, stats: CallerStats) {
    this.#stats = stats;
    this.#signal = signal;
    this.#onAbort = onAbort;
    this.result = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  }

  /** Told already, either way. */
  get settled(): boolean {
    return this.#state !== 'waiting';
  }

  /** Hand out the Response, unless told already. */
  answer(response: Response): void {
    if (this.#state !== 'waiting') return;
    this.#state = 'answered';
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#stats.delivered(performance.now() - this.#createdAt);
    this.#resolve(response);
  }

  /** Reject the transform; false when told already (the failure then belongs to the body handed out). */
  reject(error: unknown): boolean {
    if (this.#state !== 'waiting') return false;
    this.#state = 'rejected';
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#reject(error);
    return true;
  }
}
