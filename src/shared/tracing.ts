// OpenTelemetry spans, one per transform, through `@opentelemetry/api` when the application has it: an
// optional peer, loaded by a dynamic import that fails quietly, so without it nothing is loaded and nothing
// happens. The API keeps its registrations on globalThis, so the copy found here sees the application's
// tracer provider and context manager.
import type * as OpenTelemetry from '@opentelemetry/api';

type Api = typeof OpenTelemetry;

/** Where the API stands: not asked for yet, on its way, there, or not installed. */
type Loader =
  | { kind: 'idle' }
  | { kind: 'loading'; loaded: Promise<void> }
  | { kind: 'ready'; api: Api }
  | { kind: 'absent' };

const TRACER_NAME = 'subprocess-transform';
// A name in a variable: bundlers and Deno's module graph leave the import to run time instead of requiring
// the package to be there.
const API_MODULE = '@opentelemetry/api';

let loader: Loader = { kind: 'idle' };

/**
 * Load `@opentelemetry/api` once, if it is installed. A pool calls it when it is made, so the API is there
 * by the time transforms come; a transform that starts before it settles has no span.
 */
export function loadTracing(): Promise<void> {
  switch (loader.kind) {
    case 'idle': {
      const loaded = (import(API_MODULE) as Promise<Api>).then(
        (api) => {
          loader = { kind: 'ready', api };
        },
        () => {
          loader = { kind: 'absent' };
        },
      );
      loader = { kind: 'loading', loaded };
      return loaded;
    }
    case 'loading':
      return loader.loaded;
    default:
      return Promise.resolve();
  }
}

/** Why a transform ended, as its span says: `aborted` is a client that left, not a failure. */
type Outcome = 'ok' | 'failed' | 'aborted';

/** The error code of a failure, if it has one. */
function getCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The protocol the user chose: `'body'` spans name the filter, though a pool of filter children runs it. */
type Protocol = 'http' | 'body';

/** What a pool's spans name: its command, and the protocol the user chose. */
export interface TraceIdentity {
  command: string;
  protocol: Protocol;
  /** The code the caller will see for a failure, where the pool maps it (a filter's failure told by its child). */
  codeOf?: (error: unknown) => string | undefined;
}

/**
 * The span of one transform, from the call to the end of its answer (or its failure): the process that ran
 * it and on which attempt, the bytes written to it and the answer's body bytes read back, and the outcome.
 */
export class TransformTrace {
  readonly #api: Api;
  readonly #span: OpenTelemetry.Span;
  readonly #protocol: Protocol;
  readonly #codeOf: (error: unknown) => string | undefined;
  #bytesIn = 0;
  #bytesOut = 0;
  #ended = false;

  constructor(
    api: Api,
    span: OpenTelemetry.Span,
    protocol: Protocol,
    codeOf: (error: unknown) => string | undefined = getCode,
  ) {
    this.#codeOf = codeOf;
    this.#api = api;
    this.#span = span;
    this.#protocol = protocol;
  }

  /** A process took the transform: on a retry, another process and the second attempt. */
  begin(pid: number | undefined, attempt: number): void {
    if (this.#ended) return;
    if (pid !== undefined) this.#span.setAttribute('process.pid', pid);
    this.#span.setAttribute('subprocess_transform.attempt', attempt);
    if (attempt > 1)
      this.#span.addEvent('retry', { 'process.pid': pid, 'subprocess_transform.attempt': attempt });
  }

  /** Bytes of the message written to the process (head, body and chunk framing). */
  wrote(batch: readonly Uint8Array[] | undefined): void {
    if (batch === undefined) return;
    for (const chunk of batch) this.#bytesIn += chunk.byteLength;
  }

  /** Bytes of the answer's body, as read from the process. */
  read(bytes: number): void {
    this.#bytesOut += bytes;
  }

  /** End the span: without `error` the transform succeeded; once only. */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    const span = this.#span;
    const code = error === undefined ? undefined : (this.#codeOf(error) ?? 'Error');
    const outcome: Outcome =
      code === undefined ? 'ok' : code === 'ERR_TRANSFORM_ABORTED' ? 'aborted' : 'failed';
    if (this.#protocol === 'http') {
      span.setAttribute('subprocess_transform.bytes_in', this.#bytesIn);
      span.setAttribute('subprocess_transform.bytes_out', this.#bytesOut);
    }
    span.setAttribute('subprocess_transform.outcome', outcome);
    if (code !== undefined) span.setAttribute('error.type', code);
    if (outcome === 'failed') {
      const message = error instanceof Error ? error.message : String(error);
      span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message });
    }
    span.end();
  }
}

/**
 * Start the span of a transform of `command`, parented to the active span; undefined without the API or
 * without a tracer provider that records (then tracing costs nothing more).
 */
export function startTransformTrace({
  command,
  protocol,
  codeOf,
}: TraceIdentity): TransformTrace | undefined {
  if (loader.kind !== 'ready') return undefined;
  const { api } = loader;
  const attributes = { 'subprocess_transform.command': command, 'subprocess_transform.protocol': protocol };
  const span = api.trace.getTracer(TRACER_NAME).startSpan('transform', { attributes }, api.context.active());
  if (!span.isRecording()) return undefined;
  return new TransformTrace(api, span, protocol, codeOf);
}
