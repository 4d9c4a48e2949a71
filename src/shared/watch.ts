import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import { describeValue } from '../util/describe-value.ts';

/** Saves closer together than this make one reload: an editor writes a file in several steps. */
const WATCH_DEBOUNCE_MS = 100;

/**
 * Check the `watch` option: a path, or a list of paths (files or folders) that exist. A misspelt path would be
 * watched for its creation, and no edit would ever reload.
 *
 * @returns The paths, or undefined when nothing is watched.
 */
export function validateWatch(value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  const paths = typeof value === 'string' ? [value] : value;
  if (
    !Array.isArray(paths) ||
    paths.length === 0 ||
    !paths.every((path) => typeof path === 'string' && path !== '')
  ) {
    throw new TypeError(
      `Expected \`watch\` to be a path or a non-empty list of paths, got ${describeValue(value)}`,
    );
  }
  // As chokidar resolves them: relative paths from the server's folder, not the transform's `cwd`.
  const missing = paths.find((path) => !existsSync(path));
  if (missing !== undefined) {
    const from = isAbsolute(missing) ? '' : ` (relative paths are from ${process.cwd()})`;
    throw new TypeError(
      `Expected \`watch\` to name files or folders that exist, got ${JSON.stringify(missing)}: it does not exist${from}`,
    );
  }
  return Object.freeze([...paths]);
}

/** The line for an error of the watcher; the same kind again is not shown. */
function describeWatchError(message: string): string {
  return `subprocess-transform: watching the transform sources: ${message} (further errors of this kind are not shown)`;
}

/**
 * Watches a transform's sources (files or folders, recursively) with chokidar and calls `onChange` once per
 * burst of saves, {@link WATCH_DEBOUNCE_MS} after the last one. It keeps the process alive until `close()`.
 */
export class SourceWatcher {
  readonly #watcher: FSWatcher;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The first path changed in the current burst, for the log line. */
  #changed: string | undefined;
  /** Settles once the first scan is done: changes before it may go unseen. */
  readonly ready: Promise<void>;

  constructor(paths: readonly string[], onChange: (path: string) => void) {
    this.#watcher = watch([...paths], { ignoreInitial: true });
    this.ready = new Promise((resolve) => this.#watcher.once('ready', () => resolve()));
    this.#watcher.on('all', (_event, path) => {
      this.#changed ??= path;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        const changed = this.#changed as string;
        this.#changed = undefined;
        this.#timer = undefined;
        onChange(changed);
      }, WATCH_DEBOUNCE_MS);
    });
    // One line per kind of error: a symlink loop alone gives one error per level of the loop.
    const reported = new Set<string>();
    this.#watcher.on('error', (error) => {
      const { code, message } = error as NodeJS.ErrnoException;
      const kind = code ?? message;
      if (reported.has(kind)) return;
      reported.add(kind);
      console.error(describeWatchError(message));
    });
  }

  /** Stop watching; a change not yet reported is dropped. */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#watcher.close();
  }
}
