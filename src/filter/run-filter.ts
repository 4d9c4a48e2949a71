import { describeCause } from '../util/describe-value.ts';
import { waitForDrain } from '../util/write.ts';
import type { FilterConfig } from './config.ts';
import { type FilterFailure, formatFailure } from './failure.ts';
import {
  type FilterProcess,
  getContextLines,
  killFilter,
  type SpawnSettings,
  spawnFilter,
} from './filter-process.ts';
import { reportEvent } from './report.ts';
import type { Spares } from './spares.ts';

const encoder = new TextEncoder();

/** The input's first bytes, read before a filter is chosen, so a spare found dead can be replaced. */
interface Input {
  first: Uint8Array | undefined;
  /** The rest of the body; undefined when the first read ended it. */
  reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
}

/**
 * How one filter ran: its answer, or `dead` when it was a spare found dead before it was handed the response:
 * its first write failed (nothing reads the pipe), or it was killed from outside with none of the body taken
 * past what is in hand (a kill just before the handover is seen only once the write went into the pipe's
 * buffer). Either way the response goes to a filter spawned now, once, and costs no failure.
 */
type Outcome = { kind: 'answer'; response: Response } | { kind: 'dead' };

/**
 * How long a filter's first output waits for its exit: a short output then leaves as one answer with its
 * length, in one write the server reads at once, instead of a head now and the body's end after the exit.
 * A filter still running past it streams as before.
 */
const HOLD_MS = 5;
/** Output held for the exit, or buffered for a reader that has not pulled yet, before stdout is paused. */
const HOLD_BYTES = 64 * 1024;

/** Signals that end a process from outside: a crash on its input raises others (SIGSEGV, SIGABRT). */
const OUTSIDE_KILLS: ReadonlySet<string> = new Set(['SIGKILL', 'SIGTERM']);

/** The answer that tells the pool a filter failed: `Transform-Error`, which the pool maps to its error. */
function getFailureResponse(failure: FilterFailure): Response {
  return new Response(null, { status: 500, headers: { 'Transform-Error': formatFailure(failure) } });
}

function getOutputHeaders(input: Response, config: FilterConfig): Headers {
  const headers = new Headers(input.headers);
  if (config.outputType !== undefined) headers.set('content-type', config.outputType);
  return headers;
}

/**
 * Write the rest of the body to the filter's stdin with backpressure, then end it.
 *
 * @returns Whether any of the rest was taken from the body: then no other filter can be given the whole of it.
 */
async function pumpRest(input: Input, stdin: NonNullable<FilterProcess['child']['stdin']>): Promise<boolean> {
  const { reader } = input;
  let took = false;
  try {
    if (reader !== undefined) {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        took = true;
        if (!stdin.write(next.value)) await waitForDrain(stdin);
      }
    }
    stdin.end();
    return took;
  } catch {
    // A filter may stop reading early (head, sed q): its exit status says whether that was fine.
    void reader?.cancel().catch(() => {});
    stdin.destroy();
    return true;
  }
}

/**
 * Run one filter on one response, in the filter child: its body on the filter's stdin, the new body from its
 * stdout, both streamed with backpressure. The answer goes out whole at the filter's clean exit when that
 * comes within HOLD_MS of its first output byte, otherwise HOLD_MS after it (or once HOLD_BYTES wait); a
 * failure before that is a `Transform-Error` answer, one after it breaks the answer (the pool then replaces
 * this child).
 */
function runOne(
  filter: FilterProcess,
  input: Response,
  body: Input,
  request: Request | undefined,
  settings: SpawnSettings,
  spares: Spares,
  spare: boolean,
): Promise<Outcome> {
  const { config } = settings;
  const { child, pid } = filter;
  // `held`: output came, kept until the exit or HOLD_MS; `body`: the answer is out, its body streaming.
  type Phase = 'head' | 'held' | 'body' | 'ended';
  let phase: Phase = 'head';
  let failure: FilterFailure | undefined;
  /** Why the filter was killed: the client left (its answer was cancelled), or its silence. */
  let killedFor: 'abort' | 'timeout' | undefined;
  let unread = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let settle!: (outcome: Outcome) => void;
  const outcome = new Promise<Outcome>((resolve) => {
    settle = resolve;
  });

  // The input first: the filter starts its work while the answer's stream is set up.
  const stdin = child.stdin;
  const prefix = filter.readsContext ? encoder.encode(getContextLines(request)) : undefined;
  const parts = [prefix, body.first].filter((part) => part !== undefined && part.byteLength > 0);
  // `written`: the first write's callback came (`unread` is known); `handedOver`: the input is all handed over
  // or found unwritable, with whether the body was taken past its first chunk.
  let written: Promise<void> = Promise.resolve();
  let handedOver: Promise<boolean> = Promise.resolve(false);
  if (stdin !== null && pid !== undefined) {
    if (parts.length === 0) handedOver = pumpRest(body, stdin);
    else {
      let onWritten!: () => void;
      let onHandedOver!: (tookRest: boolean | Promise<boolean>) => void;
      written = new Promise<void>((resolve) => {
        onWritten = resolve;
      });
      handedOver = new Promise<boolean>((resolve) => {
        onHandedOver = resolve;
      });
      // One writev, with the end of input when the body came whole: the filter reads it all in one wake-up.
      stdin.cork();
      for (const [index, part] of parts.entries()) {
        if (index < parts.length - 1) stdin.write(part);
        else {
          // A write after the process is gone fails: it read none of this response, and another may run it.
          stdin.write(part, (error) => {
            if (error) unread = true;
            onWritten();
            onHandedOver(error || body.reader === undefined ? false : pumpRest(body, stdin));
          });
        }
      }
      if (body.reader === undefined) stdin.end();
      stdin.uncork();
    }
  }

  const fail = (kind: FilterFailure['kind'], reason: 'abort' | 'timeout'): void => {
    if (failure !== undefined || phase === 'ended') return;
    failure = { kind, pid };
    killedFor = reason;
    killFilter(filter);
  };
  // `timeout` is the longest silence on stdout while the output is wanted; a paused reader stops the clock.
  let timer: ReturnType<typeof setTimeout> | undefined;
  let hold: ReturnType<typeof setTimeout> | undefined;
  const release = (): void => {
    if (phase !== 'held') return;
    clearTimeout(hold);
    phase = 'body';
    settle({ kind: 'answer', response: output });
  };
  const armTimer = (): void => {
    clearTimeout(timer);
    if (config.timeout > 0 && phase !== 'ended')
      timer = setTimeout(() => fail('timeout', 'timeout'), config.timeout);
  };

  const output = new Response(
    new ReadableStream<Uint8Array>(
      {
        start(streamController) {
          controller = streamController;
        },
        pull() {
          child.stdout?.resume();
          armTimer();
        },
        cancel() {
          // The pool went away from this answer: nothing is left to save.
          fail('exit', 'abort');
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: HOLD_BYTES }),
    ),
    { status: input.status, statusText: input.statusText, headers: getOutputHeaders(input, config) },
  );

  child.stdout?.on('data', (chunk: Buffer) => {
    if (failure !== undefined) return;
    controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (phase === 'head') {
      phase = 'held';
      hold = setTimeout(release, HOLD_MS);
    }
    if ((controller.desiredSize ?? 0) <= 0) {
      release();
      child.stdout?.pause();
      clearTimeout(timer);
    } else armTimer();
  });
  armTimer();

  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  child.once('close', (code, signal) => {
    clearTimeout(timer);
    clearTimeout(hold);
    filter.forget();
    const wasPhase = phase;
    phase = 'ended';
    // Spares start again once this answer is out: a spawn blocks the event loop for a while, and the answer
    // leaves in this turn's check phase (the encoder waits one setImmediate for the body's end), so the
    // spawn waits one more.
    setImmediate(() => setImmediate(() => spares.fill()));
    if (spawnError !== undefined && pid === undefined) {
      const cwd = config.cwd === undefined ? '' : ` (cwd "${config.cwd}")`;
      settle({
        kind: 'answer',
        response: getFailureResponse({ kind: 'spawn', cause: `${describeCause(spawnError)}${cwd}` }),
      });
      return;
    }
    const ended: FilterFailure | undefined =
      failure ??
      (code === 0 ? undefined : { kind: 'exit', pid, code: code ?? undefined, signal: signal ?? undefined });
    if (pid !== undefined) {
      const reason = ended === undefined ? 'done' : (killedFor ?? 'crash');
      reportEvent({ type: 'exit', pid, code: code ?? undefined, signal: signal ?? undefined, reason });
    }
    if (ended === undefined) {
      controller.close();
      if (wasPhase !== 'body') settle({ kind: 'answer', response: output });
    } else if (wasPhase !== 'body') {
      // Nothing is out yet: a failure is still an answer of its own, its held output dropped.
      const failed: Outcome = { kind: 'answer', response: getFailureResponse(ended) };
      const dead: Outcome = { kind: 'dead' };
      // A spare that may have been dead when handed the response: its first write's callback may come after
      // the close; killed from outside, it matters too whether the body was taken past what is in hand.
      if (wasPhase !== 'head' || !spare || killedFor !== undefined) settle(failed);
      else if (signal !== null && OUTSIDE_KILLS.has(signal))
        void handedOver.then((tookRest) => settle(unread || !tookRest ? dead : failed));
      else void written.then(() => settle(unread ? dead : failed));
    } else {
      // The answer is out: the only way left to report the failure is a broken body. Its message is the
      // failure's own text, which the pool maps back when the child tells it before the head left; its
      // stack is one line, since the child logs it and it is a report, not a bug of the child.
      const error = new Error(formatFailure(ended));
      error.stack = `Body filter "${config.commandText}" failed: ${error.message}`;
      controller.error(error);
    }
  });
  return outcome;
}

/**
 * Answer one message: the response's body through a fresh filter (a spare when one waits ready; a spare found
 * dead before it read a byte is replaced by a filter spawned now), then spares are started again.
 *
 * @param input The response to filter.
 * @param request The request it answers (its method and URL go into the filter's environment).
 * @param settings The config, the filter's environment and the watchdog.
 * @param spares The filters started ahead.
 * @returns The filtered response, or a `Transform-Error` answer.
 */
export async function filterResponse(
  input: Response,
  request: Request | undefined,
  settings: SpawnSettings,
  spares: Spares,
): Promise<Response> {
  const reader = input.body?.getReader();
  const first = await reader?.read();
  const body: Input = {
    first: first?.done === false ? first.value : undefined,
    reader: first?.done === false ? reader : undefined,
  };
  const spare = spares.take();
  if (spare !== undefined) {
    const outcome = await runOne(spare, input, body, request, settings, spares, true);
    if (outcome.kind === 'answer') return outcome.response;
  }
  const filter = spawnFilter(settings, request);
  const outcome = await runOne(filter, input, body, request, settings, spares, false);
  // A filter spawned for a response that started says the command works; one that could not start stops the
  // spares until one does.
  spares.enable(filter.pid !== undefined);
  return outcome.kind === 'answer' ? outcome.response : getFailureResponse({ kind: 'exit', pid: filter.pid });
}
