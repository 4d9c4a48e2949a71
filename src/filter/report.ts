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

/** Write a report line (in the filter child). */
export function reportEvent(event: FilterEvent): void {
  process.stderr.write(`${PREFIX}${JSON.stringify(event)}\n`);
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
