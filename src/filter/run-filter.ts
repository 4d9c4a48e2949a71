import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decodeContent } from '../shared/content-coding.ts';
import { TransformError, type TransformErrorCode } from '../shared/errors.ts';
import type { ExitReason } from '../shared/events.ts';
import { StallTimer } from '../shared/slow-client.ts';
import { StderrSink } from '../shared/stderr.ts';
import { weakenValidators } from '../shared/weaken-validators.ts';
import { describeCause } from '../util/describe-value.ts';
import { getConnectionTokens, isHopByHop } from '../wire/fields.ts';
import {
  emitExit,
  type FilterProcess,
  getContextLines,
  killGroup,
  type SpawnSettings,
  spawnFilter,
} from './spawn-filter.ts';

/** What one run needs from its pool. */
export interface FilterSettings extends SpawnSettings {
  /** The output's Content-Type; undefined keeps the input's. */
  outputType: string | undefined;
  /** Aborts when the pool's `close()` timeout passed: every filter still running is killed. */
  closed: AbortSignal;
}

/** How a run ended, for the pool's counters: undefined when the filter exited 0 and its output was read. */
export type FilterOutcome = TransformError | undefined;

/** The input's fields, less framing (the output's length is unknown until it ends), validators as asked. */
function getOutputHeaders(input: Response, settings: FilterSettings): Headers {
  const headers = new Headers(input.headers);
  for (const name of getConnectionTokens(headers.get('connection'))) headers.delete(name);
  for (const name of [...headers.keys()]) if (isHopByHop(name)) headers.delete(name);
  if (!settings.options.preserveValidators) weakenValidators(headers);
  if (settings.outputType !== undefined) headers.set('content-type', settings.outputType);
  return headers;
}

function isClosedPipe(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED';
}

/**
 * Run the filter once for one response: its body (decoded unless `decode` is false) on the process's stdin,
 * the new body from its stdout, both streamed with backpressure. The head is handed out at the first output
 * byte, or at a clean exit with none; a non-zero exit or `timeout` of silence on stdout before that rejects,
 * after it errors the body. `onEnd` runs once, when the process is gone.
 *
 * @param input The response to filter.
 * @param init The request (for the environment) and a signal that aborts the run before its head.
 * @param settings The pool's options and event sink.
 * @param onEnd Called with the outcome once the process exited.
 * @param spare A filter started ahead, waiting on stdin; without it, one is spawned now.
 * @returns The filtered response.
 */
export function runFilter(
  input: Response,
  init: { request?: Request | undefined; signal?: AbortSignal | undefined },
  settings: FilterSettings,
  onEnd: (outcome: FilterOutcome) => void,
  spare?: FilterProcess,
): Promise<Response> {
  const { options, events } = settings;
  const decoded = options.decode ? decodeContent(input) : input;
  const filter = spare ?? spawnFilter(settings, init.request);
  const { child, pid, forget } = filter;
  const stderr = pid === undefined || child.stderr === null ? undefined : new StderrSink(options.stderr, pid);
  child.stderr?.on('data', (chunk: Buffer) => stderr?.write(chunk));

  type Phase = 'head' | 'body' | 'ended';
  let phase: Phase = 'head';
  let failure: { code: TransformErrorCode; reason: ExitReason; message: string } | undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let resolveHead!: (response: Response) => void;
  let rejectHead!: (error: TransformError) => void;
  const head = new Promise<Response>((resolve, reject) => {
    resolveHead = resolve;
    rejectHead = reject;
  });
  const who = `Body filter "${options.commandText}"${pid === undefined ? '' : ` (pid ${pid})`}`;

  const fail = (code: TransformErrorCode, reason: ExitReason, message: string): void => {
    if (failure !== undefined || phase === 'ended') return;
    failure = { code, reason, message };
    killGroup(child);
    // Read the rest only to drop it: a filter that exited with output left in a paused pipe never closes.
    child.stdout?.resume();
  };

  // `timeout` is the longest silence on stdout while the output is wanted; a paused reader stops the clock.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const armTimer = (): void => {
    clearTimeout(timer);
    // No timeout (0 or Infinity resolves to Infinity): a timer would overflow and fire at once.
    if (options.timeout === Number.POSITIVE_INFINITY || phase === 'ended') return;
    timer = setTimeout(
      () => fail('ERR_TRANSFORM_TIMEOUT', 'timeout', `${who} was silent on stdout for ${options.timeout} ms`),
      options.timeout,
    );
  };

  const onAbort = (): void => fail('ERR_TRANSFORM_ABORTED', 'abort', 'The client went away');
  const onClosed = (): void =>
    fail('ERR_TRANSFORM_CLOSED', 'close', `${who} was still running when the pool closed`);
  settings.closed.addEventListener('abort', onClosed, { once: true });
  init.signal?.addEventListener('abort', onAbort, { once: true });
  if (init.signal?.aborted) onAbort();

  // A client that reads nothing holds its filter, and a slot of `processes`, at most `clientTimeout` once
  // `clientBuffer` is full; an output that fits lets the filter exit and free its slot at once.
  const stall = new StallTimer(options.clientTimeout, () =>
    fail(
      'ERR_TRANSFORM_ABORTED',
      'abort',
      `${who} was abandoned: its client read nothing for ${options.clientTimeout} ms (clientTimeout)`,
    ),
  );
  const body = new ReadableStream<Uint8Array>(
    {
      start(streamController) {
        controller = streamController;
      },
      pull() {
        stall.disarm();
        child.stdout?.resume();
        armTimer();
      },
      cancel() {
        fail('ERR_TRANSFORM_ABORTED', 'abort', 'The client went away');
      },
    },
    { highWaterMark: options.clientBuffer, size: (chunk) => chunk.byteLength },
  );
  const output = new Response(body, {
    status: decoded.status,
    statusText: decoded.statusText,
    headers: getOutputHeaders(decoded, settings),
  });

  let bytes = 0;
  child.stdout?.on('data', (chunk: Buffer) => {
    if (failure !== undefined) return;
    bytes += chunk.length;
    if (bytes > options.limits.maxBodyBytes) {
      fail(
        'ERR_TRANSFORM_PROTOCOL',
        'protocol',
        `${who} wrote more than ${options.limits.maxBodyBytes} bytes`,
      );
      return;
    }
    controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (phase === 'head') {
      phase = 'body';
      // From the head on, the client leaving shows as a cancelled body, as in http mode: a body errored
      // by the signal under a server still writing it would be logged there as an error.
      init.signal?.removeEventListener('abort', onAbort);
      resolveHead(output);
    }
    if ((controller.desiredSize ?? 0) <= 0) {
      child.stdout?.pause();
      clearTimeout(timer);
      stall.arm();
    } else armTimer();
  });
  armTimer();

  if (filter.readsContext) child.stdin?.write(getContextLines(init.request));
  const source = decoded.body;
  if (source === null) child.stdin?.end();
  else if (child.stdin !== null) {
    pipeline(Readable.fromWeb(source as never), child.stdin).catch((error: unknown) => {
      // A filter may stop reading early (head, sed q): its exit status says whether that was fine.
      if (!isClosedPipe(error)) fail('ERR_TRANSFORM_EXIT', 'crash', `${who}: the response body failed`);
    });
  }

  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  child.once('close', (code, signal) => {
    clearTimeout(timer);
    stall.disarm();
    forget();
    stderr?.end();
    init.signal?.removeEventListener('abort', onAbort);
    settings.closed.removeEventListener('abort', onClosed);
    const wasPhase = phase;
    phase = 'ended';
    let error: TransformError | undefined;
    if (spawnError !== undefined && pid === undefined) {
      // No process, so no exit to log: the cause goes out as an event of its own, or nobody hears of it.
      const reason = `${describeCause(spawnError)}${options.cwd === undefined ? '' : ` (cwd "${options.cwd}")`}`;
      events.emit({ type: 'spawn-error', command: options.commandText, reason });
      error = new TransformError('ERR_TRANSFORM_SPAWN', `${who} could not be started: ${reason}`, {
        cause: spawnError,
        command: options.commandText,
      });
    } else {
      const ended =
        failure ??
        (code === 0
          ? undefined
          : { code: 'ERR_TRANSFORM_EXIT' as const, reason: 'crash' as const, message: '' });
      if (pid !== undefined && ended !== undefined) emitExit(settings, pid, code, signal, ended.reason);
      if (ended !== undefined) {
        const how = signal !== null ? `was killed with ${signal}` : `exited with code ${code}`;
        error = new TransformError(ended.code, ended.message || `${who} ${how}`, {
          command: options.commandText,
          pid,
          exitCode: code ?? undefined,
          signal: signal ?? undefined,
          stderr: stderr?.tail,
        });
      }
    }
    if (error === undefined) {
      controller.close();
      if (wasPhase === 'head') resolveHead(output);
    } else if (wasPhase === 'head') {
      rejectHead(error);
    } else {
      // The head is out: the only way left to report the failure is a broken body.
      controller.error(error);
    }
    onEnd(error);
  });
  return head;
}
