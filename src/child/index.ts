// First, for its side effect: in a process a pool started, console.log goes to stderr from this import on.
import './console.ts';
import type { Readable, Writable } from 'node:stream';
import { waitForDrain } from '../util/write.ts';
import { type BodyChannel, createResponse } from '../wire/body.ts';
import type { WireLimits } from '../wire/limits.ts';
import type { ResponseHead } from '../wire/parser.ts';
import { MAX_ANNOUNCED_DEPTH, PIPELINE_FIELD } from '../wire/pipeline-field.ts';
import { encodeResponse, formatHead, type ResponseEncoder } from '../wire/serialize.ts';
import { guardStdout, routeConsoleToStderr } from './console.ts';
import { findHeadOverLimits } from './head-limits.ts';
import { type Message, MessageReader } from './input.ts';
import { AnswerOutput } from './output.ts';
import { UNREADABLE_BODY_REASON } from './reasons.ts';
import { MessageResponse } from './response.ts';

/** What a transform function gets besides the response. */
export interface TransformContext {
  /**
   * The request the response answers, from the `Transform-Request-*` fields: method, URL, forwarded headers.
   * Built on first read.
   */
  readonly request: Request;
}

/** A transform: the response in, the changed response out. */
export type TransformFunction = (
  response: Response,
  context: TransformContext,
) => Response | Promise<Response>;

/** Options of {@link serveTransform}. */
export interface ServeTransformOptions {
  /** Where messages come from. @default process.stdin */
  input?: Readable;
  /** Where answers go. @default process.stdout */
  output?: Writable;
  /** Bounds on each incoming message. @default no body limit, 64 KiB heads */
  limits?: Partial<WireLimits>;
  /**
   * Exit the process a second after input ends, even if something else keeps it alive, so a transform never
   * outlives its parent. @default true when `output` is process.stdout
   */
  exitOnEnd?: boolean;
}

const DEFAULT_URL = 'http://localhost/';
/**
 * On every answer: this loop frames each answer by construction and calls the transform one message at a
 * time, so a pool may write messages ahead (a message read ahead never reaches the transform's code).
 */
const ANNOUNCEMENT: [string, string] = [PIPELINE_FIELD, String(MAX_ANNOUNCED_DEPTH)];
const REASON_MAX_CHARS = 200;

function toRequest(head: ResponseHead): Request {
  const headers = new Headers();
  for (const [key, value] of head.context) {
    if (key.startsWith('header-')) headers.append(key.slice('header-'.length), value);
  }
  const init = { method: head.context.get('method') ?? 'GET', headers };
  try {
    return new Request(head.context.get('url') ?? DEFAULT_URL, init);
  } catch {
    // A method or URL a Request cannot hold (CONNECT, a relative URL): keep the headers, lose the rest.
    return new Request(DEFAULT_URL, { headers });
  }
}

/**
 * The context of one message; its Request (and that Request's AbortSignal) is built only if read. A class:
 * made per message, an object literal with a getter and a closure costs more.
 */
class MessageContext implements TransformContext {
  readonly #head: ResponseHead;
  #request: Request | undefined;

  constructor(head: ResponseHead) {
    this.#head = head;
  }

  get request(): Request {
    this.#request ??= toRequest(this.#head);
    return this.#request;
  }
}

/** A `Transform-Error` value: one line of visible characters, short. */
function toReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const line = (message.split('\n')[0] ?? '').replace(/[^\x20-\x7e]/g, '?').trim();
  return (line || 'the transform function failed').slice(0, REASON_MAX_CHARS);
}

function getFailureResponse(error: unknown): Response {
  return new Response(null, { status: 500, headers: { 'Transform-Error': toReason(error) } });
}

/**
 * Serve a transform over stdin and stdout: read one HTTP/1.1 response per message,
 * call `fn` for each, in order, and write its result with framing and the `Transform-Request-Id` echoed,
 * streaming both ways. Messages written back to back (a pool that pipelines) are answered one after another,
 * in order, each answer written before `fn` is called for the next. Body
 * bytes `fn` leaves unread are drained. If `fn` throws, or returns a Response whose
 * body cannot be read (locked, or failing before its first byte), the answer is a `Transform-Error` (the
 * error goes to stderr) and serving goes on. `console.log` and friends go to stderr: in a process a pool
 * started (it sets `SUBPROCESS_TRANSFORM_CHILD=1`) from the import of `subprocess-transform/child` on, so
 * import it before any module that logs while it loads; in any other process from this call on, when
 * `output` is process.stdout.
 *
 * @param fn The transform.
 * @param options Streams and limits, for tests or embedding.
 * @returns Resolves when the input ends and every answer is written.
 * @example
 * ```ts
 * // upper.ts, run as `command: ['node', 'upper.js']`
 * import { serveTransform } from 'subprocess-transform/child';
 * await serveTransform(async (response) => new Response((await response.text()).toUpperCase(), response));
 * ```
 */
export async function serveTransform(
  fn: TransformFunction,
  options: ServeTransformOptions = {},
): Promise<void> {
  if (typeof fn !== 'function') throw new TypeError(`Expected a transform function, got ${typeof fn}`);
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  if (output === process.stdout) {
    routeConsoleToStderr();
    guardStdout();
  }
  const messages = new MessageReader(input, options.limits);
  const out = new AnswerOutput(output);
  output.on('error', (error) => {
    out.failed = true;
    messages.stop(error);
  });
  for (let message = await messages.next(); message !== undefined; message = await messages.next()) {
    let written: boolean;
    try {
      written = await answer(fn, message, out);
    } finally {
      messages.release(message);
    }
    if (!written) {
      messages.stop();
      break;
    }
    // Out before the next call, which may end the process: an answer is never held for those behind it.
    if (!out.flush() && !(await drain(out))) {
      messages.stop();
      break;
    }
  }
  out.flush();
  const { failure } = messages;
  if (failure !== undefined) console.error('subprocess-transform: stopped serving:', failure);
  if (options.exitOnEnd ?? output === process.stdout) {
    setTimeout(() => process.exit(failure === undefined ? 0 : 1), 1000).unref();
  }
}

/**
 * The body of `response` as the bytes that came in, when it came whole and nothing has asked for it: the
 * transform returned the response it was given (headers perhaps changed) without touching the body.
 */
function getUnreadBody(
  response: Response,
  given: Response,
  body: BodyChannel | undefined,
): { chunks: readonly Uint8Array[]; bytes: number } | undefined {
  if (response !== given || !(given instanceof MessageResponse) || given.bodyTouched) return undefined;
  const chunks = body?.chunks;
  if (chunks === undefined) return undefined;
  let bytes = 0;
  for (const chunk of chunks) bytes += chunk.byteLength;
  return { chunks, bytes };
}

/** Wait until the output takes more; false when it failed or closed instead. */
function drain(out: AnswerOutput): Promise<boolean> {
  return waitForDrain(out.stream).then(
    () => true,
    () => false,
  );
}

/** Answer one message, queued on `out`; false when the output is gone. */
async function answer(fn: TransformFunction, message: Message, out: AnswerOutput): Promise<boolean> {
  const { head, body } = message;
  const id = head.context.get('id');
  const given = body === undefined ? createResponse(head, null) : new MessageResponse(head, body);
  const fields: [string, string][] =
    id === undefined ? [ANNOUNCEMENT] : [['Transform-Request-Id', id], ANNOUNCEMENT];
  let result: Response;
  try {
    result = await fn(given, new MessageContext(head));
    if (!(result instanceof Response))
      throw new TypeError(`Expected the transform to return a Response, got ${typeof result}`);
    // Bun and Deno let a Response have a 101: sent, it would end the process (an interim answer is refused).
    if (result.status < 200)
      throw new RangeError(
        `Expected the transform to return a final status, 200 to 599, got ${result.status}`,
      );
  } catch (error) {
    console.error(error);
    result = getFailureResponse(error);
  }
  if (out.failed) return false;
  const whole = getUnreadBody(result, given, body);
  if (whole !== undefined) {
    // A whole body left untouched goes out as it came: what the encoder would write, without reading a stream.
    const headText = formatHead(result, { contentLength: whole.bytes }, fields);
    const over = findHeadOverLimits(headText);
    if (over === undefined) {
      out.addHead(headText);
      out.add(whole.chunks);
      return true;
    }
    return writeRefusal(over, fields, out);
  }
  const outcome = await writeAnswer(encodeResponse(result, { fields }), out);
  if (outcome.type === 'written') return true;
  if (outcome.type === 'output-gone') return false;
  if (outcome.type === 'head-over') return writeRefusal(outcome.reason, fields, out);
  if (outcome.started) {
    // The answer's body failed half-way: the message cannot be completed, so the framing is lost for good.
    console.error("subprocess-transform: the transform's response body failed; stopping", outcome.error);
    out.stream.destroy();
    return false;
  }
  // Not a byte is queued (a locked body, one that fails at once): this message fails, the next is served.
  console.error("subprocess-transform: the transform's response body cannot be read:", outcome.error);
  const failure = getFailureResponse(`${UNREADABLE_BODY_REASON}${toReason(outcome.error)}`);
  return (await writeAnswer(encodeResponse(failure, { fields }), out)).type === 'written';
}

/** Answer `Transform-Error` for a Response that cannot be sent as it is: this message fails, the next is served. */
async function writeRefusal(reason: string, fields: [string, string][], out: AnswerOutput): Promise<boolean> {
  console.error(`subprocess-transform: ${reason}`);
  return (await writeAnswer(encodeResponse(getFailureResponse(reason), { fields }), out)).type === 'written';
}

/** How writing one answer ended; `started` says whether any of its bytes were queued before the body failed. */
type WriteOutcome =
  | { type: 'written' }
  | { type: 'output-gone' }
  | { type: 'head-over'; reason: string }
  | { type: 'body-failed'; error: unknown; started: boolean };

/**
 * Queue an answer's batches on `out`. Once it is complete the caller settles it; a body still streaming is
 * written batch by batch, what was queued before it included, so no answer waits on a body being produced.
 */
async function writeAnswer(encoder: ResponseEncoder, out: AnswerOutput): Promise<WriteOutcome> {
  const { stream } = out;
  let started = false;
  try {
    for await (const batch of encoder) {
      // Leaving the loop cancels the body: a body that trickles forever is read no more.
      if (out.failed) return { type: 'output-gone' };
      // The head is the first view of the first batch: over the pool's limits, nothing of it is queued.
      const over = started ? undefined : findHeadOverLimits(batch[0] as Uint8Array);
      if (over !== undefined) return { type: 'head-over', reason: over };
      started = true;
      out.add(batch);
      if (!encoder.done && !out.flush()) await waitForDrain(stream);
    }
  } catch (error) {
    if (out.failed || stream.destroyed || stream.writableEnded) return { type: 'output-gone' };
    return { type: 'body-failed', error, started };
  }
  return { type: 'written' };
}
