import { toCanonicalName } from '../wire/fields.ts';
import { ResponseEncoder } from '../wire/serialize.ts';

/**
 * The request context a message carries (`requestContext`): the request's method and URL, and each named
 * request header it has; none without a request, or with `requestContext: false` (`headers` undefined).
 */
export function getContextFields(
  headers: readonly string[] | undefined,
  request: Request | undefined,
): [string, string][] {
  if (headers === undefined || request === undefined) return [];
  const fields: [string, string][] = [
    ['Transform-Request-Method', request.method],
    ['Transform-Request-URL', request.url],
  ];
  for (const name of headers) {
    const value = request.headers.get(name);
    if (value !== null) fields.push([`Transform-Request-Header-${toCanonicalName(name)}`, value]);
  }
  return fields;
}

/**
 * The input side of one transform: the handler's response encoded as a message, batch by batch, with the
 * first batch kept while it is all that was taken, so a retry on another process can send it again. A batch
 * being read from the handler is shared, so a retry takes it over instead of losing it.
 */
export class MessageSource {
  readonly #response: Response;
  readonly #encoder: ResponseEncoder;
  /** The batch being read from the handler. */
  #pending: Promise<IteratorResult<Uint8Array[], void>> | undefined;
  /** Batches taken from the encoder; the first is kept while it is all there is. */
  #taken = 0;
  #first: Uint8Array[] | undefined;
  /** The first batch again, for the process of a retry. */
  #replay: Uint8Array[] | undefined;
  /** The encoder has given its last batch. */
  #ended = false;

  constructor(response: Response, fields: [string, string][]) {
    this.#response = response;
    this.#encoder = new ResponseEncoder(response, { fields, omitTransformFields: true });
  }

  /** The handler's response, rebuilt if its body was read whole, or untouched; undefined once streamed. */
  get original(): Response | undefined {
    const response = this.#response;
    if (this.#taken === 0) return response;
    if (this.#first === undefined || !this.#ended) return undefined;
    // The whole message was in one batch: the head, then the body's own chunks.
    const chunks = this.#first.slice(1) as Uint8Array<ArrayBuffer>[];
    return new Response(chunks.length === 0 ? null : new Blob(chunks), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  }

  /** Everything taken so far can be sent again: nothing, or the first batch alone. */
  get replayable(): boolean {
    return this.#taken <= 1;
  }

  /** A new attempt begins: the first batch, if taken, is given again first. */
  restart(): void {
    this.#replay = this.#first;
  }

  /** The batch a replay gives again, if one is due; taking it clears it. */
  takeReplay(): Uint8Array[] | undefined {
    const replay = this.#replay;
    this.#replay = undefined;
    return replay;
  }

  /** Read the next batch from the handler (shared while pending); throws if the handler's body fails. */
  read(): Promise<IteratorResult<Uint8Array[], void>> {
    this.#pending ??= this.#encoder.next();
    return this.#pending;
  }

  /** The batch `read` gave is taken by the attempt in flight: undefined when it was the end. */
  take(result: IteratorResult<Uint8Array[], void>): Uint8Array[] | undefined {
    this.#pending = undefined;
    if (result.done) {
      this.#ended = true;
      return undefined;
    }
    this.#taken++;
    this.#first = this.#taken === 1 ? result.value : undefined;
    return result.value;
  }

  /** Stop reading the handler's body, if it was ever read: one never read stays the caller's to send. */
  cancel(): void {
    if (this.#taken > 0 || this.#pending !== undefined) this.#encoder.cancel();
  }
}
