import type { ExitReason } from '../shared/events.ts';

/**
 * A filter's start and end, as the filter child tells the pool: one line on its stderr (which the pool
 * drains anyway), so the pool's events name the filters, not the children that run them. `done`: it exited
 * 0 with its output read, not worth an event.
 */
export type FilterEvent =
  | { type: 'spawn'; pid: number }
  | { type: 'spawn-error'; reason: string }
  | {
      type: 'exit';
      pid: number;
      code?: number | undefined;
      signal?: string | undefined;
      reason: ExitReason | 'done';
    };

/** What starts a report line: a control character no log line starts with. */
const PREFIX = '\u001esubprocess-transform-filter ';

let pending = '';

/**
 * Report an event (in the filter child). The lines of one turn leave in one write at its end: a filter's end
 * and its replacement's start wake the server once, after the answer is out.
 */
export function reportEvent(event: FilterEvent): void {
  if (pending === '') setImmediate(flushEvents);
  pending += `${PREFIX}${JSON.stringify(event)}\n`;
}

function flushEvents(): void {
  process.stderr.write(pending);
  pending = '';
}

/** The event a stderr line reports, or undefined for any other line. */
export function parseEventLine(line: string): FilterEvent | undefined {
  if (!line.startsWith(PREFIX)) return undefined;
  try {
    return JSON.parse(line.slice(PREFIX.length)) as FilterEvent;
  } catch {
    return undefined;
  }
}

const NEWLINE = 0x0a;
const RECORD_SEPARATOR = 0x1e;
/** The longest unfinished line kept back: past it the line is passed on in pieces. */
const MAX_PARTIAL_BYTES = 64 * 1024;

/** Lines whose first byte would start a report line get `?` there instead (the buffer is ours to change). */
function defuse(lines: Buffer): Buffer {
  for (let at = 0; at < lines.byteLength; at = lines.indexOf(NEWLINE, at) + 1 || lines.byteLength) {
    if (lines[at] === RECORD_SEPARATOR) lines[at] = 0x3f;
  }
  return lines;
}

/**
 * Pass a filter's stderr on to this child's in whole lines: a report line then always starts a line of its own
 * (a filter's unfinished line would swallow it, and the pool would lose the event), and a filter's line that
 * looks like one is defused, so a filter cannot forge events. An unfinished last line gets its line break at
 * the end.
 */
export function passLines(source: NodeJS.ReadableStream): void {
  let partial = Buffer.alloc(0);
  source.on('data', (chunk: Buffer) => {
    // A copy: the lines are defused in place.
    const joined = Buffer.concat([partial, chunk]);
    const whole = joined.lastIndexOf(NEWLINE) + 1;
    if (joined.byteLength - whole > MAX_PARTIAL_BYTES) {
      partial = Buffer.alloc(0);
      process.stderr.write(defuse(Buffer.concat([joined, Buffer.of(NEWLINE)])));
      return;
    }
    partial = joined.subarray(whole);
    if (whole > 0) process.stderr.write(defuse(joined.subarray(0, whole)));
  });
  source.on('end', () => {
    if (partial.byteLength > 0) process.stderr.write(defuse(Buffer.concat([partial, Buffer.of(NEWLINE)])));
    partial = Buffer.alloc(0);
  });
}
