import type { ExitReason, ProcessEvent, ProcessEventSink } from '../shared/events.ts';
import type { StderrOption } from '../shared/stderr.ts';
import { parseFailure } from './failure.ts';
import { parseEventLine } from './report.ts';

/** Exits of a filter child that end the filters in it: the pool's own decisions, named by its reason. */
const ROUTINE_CHILD_EXITS: ReadonlySet<ExitReason> = new Set(['abort', 'close', 'reload', 'recycle']);

/**
 * The pool's events and stderr as a user of the filter mode knows them: about filters, not the children that
 * run them. A filter's `spawn` and `exit` come from its child's report lines on stderr; a filter that could not
 * start comes back as a `Transform-Error` and becomes `spawn-error`; a child the pool ended (a client that
 * left, close, reload) ends the filters it held, with the same reason. A child that crashed, timed out or
 * broke the protocol is reported as itself. Every other stderr line goes where the `stderr` option says.
 */
export class FilterEventRelay {
  readonly #sink: ProcessEventSink;
  readonly #command: string;
  readonly #stderr: StderrOption | undefined;
  /** `timeout`, the one timer a filter has: named in the exit event of a filter it ended. */
  readonly #timeout: number;
  /** The filters alive in each child, by the child's pid. */
  readonly #filters = new Map<number, Set<number>>();
  /** Filters started, and ended, so far. */
  started = 0;
  exited = 0;

  constructor(sink: ProcessEventSink, command: string, stderr: StderrOption | undefined, timeout: number) {
    this.#sink = sink;
    this.#command = command;
    this.#stderr = stderr;
    this.#timeout = timeout;
  }

  /** A line of a child's stderr. */
  onLine = (line: string, { pid }: { pid: number }): void => {
    const event = parseEventLine(line);
    if (event === undefined) this.#forward(line, pid);
    else if (event.type === 'spawn-error') {
      this.#emit({ type: 'spawn-error', command: this.#command, reason: event.reason });
    } else if (event.type === 'spawn') {
      this.started++;
      this.#filtersOf(pid).add(event.pid);
      this.#emit({ type: 'spawn', pid: event.pid, command: this.#command });
    } else if (this.#filtersOf(pid).delete(event.pid)) {
      this.exited++;
      if (event.reason === 'done') return;
      const { pid: filter, code, signal, reason } = event;
      this.#emit({
        type: 'exit',
        pid: filter,
        command: this.#command,
        code,
        signal,
        reason,
        // A filter may read all its input before it writes, so silence on stdout gets no flush hint.
        ...(reason === 'timeout' && {
          timer: { option: 'timeout', ms: this.#timeout, silent: false } as const,
        }),
      });
    }
  };

  /** An event of the pool of children. */
  onEvent = (event: ProcessEvent): void => {
    switch (event.type) {
      case 'spawn':
        return;
      case 'transform-error': {
        const failure = parseFailure(event.reason);
        if (failure === undefined) this.#emit({ ...event, command: this.#command });
        // Its exit the child reports itself.
        else if (failure.kind === 'spawn') {
          this.#emit({ type: 'spawn-error', command: this.#command, reason: failure.cause ?? 'unknown' });
        }
        return;
      }
      case 'exit': {
        const filters = this.#filters.get(event.pid);
        this.#filters.delete(event.pid);
        for (const pid of filters ?? []) {
          this.exited++;
          const reason = ROUTINE_CHILD_EXITS.has(event.reason) ? event.reason : 'crash';
          this.#emit({
            type: 'exit',
            pid,
            command: this.#command,
            code: undefined,
            signal: 'SIGKILL',
            reason,
          });
        }
        if (!ROUTINE_CHILD_EXITS.has(event.reason)) this.#emit({ ...event, command: this.#command });
        return;
      }
      default:
        this.#emit({ ...event, command: this.#command });
    }
  };

  #filtersOf(child: number): Set<number> {
    let filters = this.#filters.get(child);
    if (filters === undefined) {
      filters = new Set();
      this.#filters.set(child, filters);
    }
    return filters;
  }

  #emit(event: ProcessEvent): void {
    this.#sink.emit(event);
  }

  #forward(line: string, pid: number): void {
    const stderr = this.#stderr;
    if (typeof stderr === 'function') stderr(line, { pid });
    else if (stderr === 'inherit') process.stderr.write(`${line}\n`);
    else if (stderr === undefined) console.error(`[transform ${pid}] ${line}`);
  }
}
