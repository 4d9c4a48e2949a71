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
