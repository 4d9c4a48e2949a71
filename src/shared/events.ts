import { channel as getChannel } from 'node:diagnostics_channel';
import { describeValue } from '../util/describe-value.ts';

/** Why a process ended: it died by itself, or the pool ended it for this reason. */
export type ExitReason = 'crash' | 'timeout' | 'recycle' | 'protocol' | 'close' | 'reload' | 'abort';

/**
 * The timer that ended a process killed for `timeout`: the option whose time passed and its value, and whether
 * the process had written anything at all (a silent one most often buffers its output and never flushes).
 */
export interface ExpiredTimer {
  option: 'timeout' | 'startTimeout';
  ms: number;
  silent: boolean;
}

/**
 * Which timer a process killed for `timeout` ran out of: `startTimeout` until its first answer head, `timeout`
 * after it (as the transform's own deadline is chosen).
 */
export function getExpiredTimer(
  options: { timeout: number; startTimeout: number },
  process: { answered: boolean; wroteOutput: boolean },
): ExpiredTimer {
  return process.answered
    ? { option: 'timeout', ms: options.timeout, silent: false }
    : { option: 'startTimeout', ms: options.startTimeout, silent: !process.wroteOutput };
}

/** What every process event carries. */
interface EventBase {
  /** The process's id; absent only from `backoff` after a command that could not be spawned at all. */
  pid: number;
  /** The transform command, as one string. */
  command: string;
}

/**
 * A process event, for loggers and metrics: `spawn`; `spawn-error` when the command could not be started at
 * all (no process, so no `pid`), with the cause; `exit` with its code or signal and why; a
 * `protocol-error` with the first offending bytes, escaped; a `transform-error` with the transform's
 * reason; a start `backoff` with its delay and why the last start failed (`pid` is that process's, absent
 * when it could not be spawned).
 */
export type ProcessEvent =
  | ({ type: 'spawn' } & EventBase)
  | { type: 'spawn-error'; pid?: undefined; command: string; reason: string }
  | ({
      type: 'exit';
      code: number | undefined;
      signal: string | undefined;
      reason: ExitReason;
      /** With reason `timeout`: which timer fired, and its value. */
      timer?: ExpiredTimer;
    } & EventBase)
  | ({ type: 'protocol-error'; message: string; bytes: string } & EventBase)
  | ({ type: 'transform-error'; reason: string } & EventBase)
  | ({ type: 'backoff'; delay: number; failures: number; reason: string } & Omit<EventBase, 'pid'> & {
        pid?: number;
      });

/** The `node:diagnostics_channel` channel every process event is published on. */
const DIAGNOSTICS_CHANNEL = 'subprocess-transform:process';

/** Exits the pool asked for (a client that left counts: it is common and harmless): not worth a line by default. */
const ROUTINE_EXITS: ReadonlySet<ExitReason> = new Set(['recycle', 'close', 'reload', 'abort']);

const channel = getChannel(DIAGNOSTICS_CHANNEL);

export function validateOnEvent(value: unknown): ((event: ProcessEvent) => void) | undefined {
  if (value === undefined || typeof value === 'function')
    return value as ((event: ProcessEvent) => void) | undefined;
  throw new TypeError(`Expected \`onEvent\` to be a function, got ${describeValue(value)}`);
}

/** The line printed for an event when no `onEvent` is given; undefined for routine ones. */
export function describeEvent(event: ProcessEvent): string | undefined {
  const who = `transform "${event.command}"${event.pid === undefined ? '' : ` (pid ${event.pid})`}`;
  switch (event.type) {
    case 'spawn':
      return undefined;
    case 'spawn-error':
      return `transform "${event.command}" could not be started: ${event.reason}`;
    case 'exit': {
      if (ROUTINE_EXITS.has(event.reason)) return undefined;
      const how =
        event.signal !== undefined ? `was killed with ${event.signal}` : `exited with code ${event.code}`;
      return `${who} ${how} (${event.timer === undefined ? event.reason : describeTimer(event.timer)})`;
    }
    case 'protocol-error':
      return `${who} broke the protocol: ${event.message}; output: "${event.bytes}"`;
    case 'transform-error':
      return `${who} could not transform a response: ${event.reason}`;
    case 'backoff':
      return `${who} ${event.reason}; failed at start ${event.failures} times in a row, next start in ${event.delay} ms`;
  }
}

/** Why a process was killed by a timer, for its exit line: the option, its value, and for silence a hint. */
function describeTimer(timer: ExpiredTimer): string {
  const what =
    timer.option === 'startTimeout'
      ? `no answer within startTimeout, ${timer.ms} ms from its start`
      : `silent for timeout, ${timer.ms} ms`;
  // The most common cause for a newcomer: stdout buffered by the language's runtime when it is a pipe.
  const hint = timer.silent
    ? '; it wrote nothing to stdout: a transform must flush its output after each answer'
    : '';
  return `timeout: ${what}${hint}`;
}

/** Where a pool's process events go: `onEvent`, or one line each on stderr; and the diagnostics channel. */
export class ProcessEventSink {
  readonly #onEvent: ((event: ProcessEvent) => void) | undefined;

  constructor(onEvent: ((event: ProcessEvent) => void) | undefined) {
    this.#onEvent = onEvent;
  }

  emit(event: ProcessEvent): void {
    if (channel.hasSubscribers) channel.publish(event);
    if (this.#onEvent === undefined) {
      const line = describeEvent(event);
      if (line !== undefined) console.error(`subprocess-transform: ${line}`);
      return;
    }
    try {
      this.#onEvent(event);
    } catch (error) {
      // A throwing logger must not take the pool down with it.
      console.error('subprocess-transform: the onEvent callback threw', error);
    }
  }
}

/** Bytes of a transform's output shown in a protocol error's excerpt, before and from the offending byte. */
const EXCERPT_BYTES = 64;

/**
 * The output around the byte that broke the protocol, escaped for a log line: from the start of its line (so
 * `debug: here\n` shows whole, not as its last byte), never before `floor` (where the message being parsed
 * began: a body's bytes ahead of it are not shown), and {@link EXCERPT_BYTES} at most on either side.
 *
 * @param chunk The read the error was found in.
 * @param at Index in `chunk` of the offending byte.
 * @param floor Index in `chunk` before which nothing is shown.
 */
export function excerptOutput(chunk: Uint8Array, at: number, floor: number): string {
  const low = Math.max(0, floor, at - EXCERPT_BYTES);
  let start = at;
  // The offending byte may itself be the line's LF (a bare LF): its line starts after the LF before it.
  while (start > low && chunk[start - 1] !== 0x0a) start--;
  return escapeBytes(chunk.subarray(start, at + EXCERPT_BYTES));
}

/** How every answer starts; output that starts otherwise is most likely not meant as one. */
const STATUS_LINE_START = new TextEncoder().encode('HTTP/');

/**
 * A hint for a protocol error in output that does not begin as an answer does (`HTTP/`): most often a
 * debug print or a banner on stdout, which is the protocol. Empty when the output looks like an answer.
 *
 * @param message The output from where the message being parsed began (it may be cut short).
 */
export function describeStrayOutput(message: Uint8Array): string {
  const looksLikeAnswer = message
    .subarray(0, STATUS_LINE_START.byteLength)
    .every((byte, index) => byte === STATUS_LINE_START[index]);
  return looksLikeAnswer || message.byteLength === 0
    ? ''
    : '; this output is not an answer: stray output on stdout (a debug print, a banner) is the likely cause, write logs to stderr';
}

/** Bytes as printable text for a log line: `\r`, `\n`, `\t` and `\xNN` escaped. */
function escapeBytes(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) {
    if (byte === 0x0d) text += '\\r';
    else if (byte === 0x0a) text += '\\n';
    else if (byte === 0x09) text += '\\t';
    else if (byte === 0x5c) text += '\\\\';
    else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else text += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return text;
}
