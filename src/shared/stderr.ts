import { describeValue } from '../util/describe-value.ts';
import { STDERR_TAIL_BYTES } from './errors.ts';

/** Where a transform's stderr goes: inherited, discarded, or a callback per line. */
export type StderrOption = 'inherit' | 'ignore' | ((line: string, info: { pid: number }) => void);

/** A line longer than this is handed on in pieces, so a flood without newlines stays bounded. */
const MAX_LINE_CHARS = 16 * 1024;

export function validateStderr(value: unknown): StderrOption | undefined {
  if (value === undefined || value === 'inherit' || value === 'ignore' || typeof value === 'function') {
    return value as StderrOption | undefined;
  }
  throw new TypeError(
    `Expected \`stderr\` to be 'inherit', 'ignore' or a function, got ${describeValue(value)}`,
  );
}

/** The execa `stderr` setting for an option: only lines and tails need a pipe. */
export function getStderrMode(option: StderrOption | undefined): 'inherit' | 'ignore' | 'pipe' {
  return option === 'inherit' || option === 'ignore' ? option : 'pipe';
}

/**
 * Splits a process's stderr into lines for the callback (or `console.error` with a `[transform <pid>]`
 * prefix) and keeps the last few KiB for error reports.
 */
export class StderrSink {
  readonly #onLine: (line: string) => void;
  readonly #decoder = new TextDecoder();
  #partial = '';
  #tail = '';

  constructor(option: StderrOption | undefined, pid: number) {
    this.#onLine =
      typeof option === 'function'
        ? (line) => option(line, { pid })
        : (line) => console.error(`[transform ${pid}] ${line}`);
  }

  write(chunk: Uint8Array): void {
    const text = this.#decoder.decode(chunk, { stream: true });
    this.#tail = (this.#tail + text).slice(-STDERR_TAIL_BYTES);
    let rest = this.#partial + text;
    for (let newline = rest.indexOf('\n'); newline !== -1; newline = rest.indexOf('\n')) {
      this.#emit(rest.slice(0, newline));
      rest = rest.slice(newline + 1);
    }
    while (rest.length > MAX_LINE_CHARS) {
      this.#emit(rest.slice(0, MAX_LINE_CHARS));
      rest = rest.slice(MAX_LINE_CHARS);
    }
    this.#partial = rest;
  }

  /** Hand on a last line without a newline. */
  end(): void {
    const rest = this.#partial + this.#decoder.decode();
    this.#partial = '';
    if (rest !== '') this.#emit(rest);
  }

  /** Log a line of the parent's own about this process, such as a Transform-Error reason. */
  log(line: string): void {
    this.#emit(line);
  }

  /** The last bytes of stderr, for a TransformError. */
  get tail(): string {
    return this.#tail;
  }

  #emit(line: string): void {
    try {
      this.#onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    } catch (error) {
      // A throwing log callback must not take the pool down with it.
      console.error('subprocess-transform: the stderr callback threw', error);
    }
  }
}
