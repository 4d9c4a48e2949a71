import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
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
  readonly #watchers: FSWatcher[];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The first path changed in the current burst, for the log line. */
  #changed: string | undefined;
  /** Settles once the first scan is done: changes before it may go unseen. */
  readonly ready: Promise<void>;

  constructor(paths: readonly string[], onChange: (path: string) => void) {
    const onEvent = (path: string) => {
      this.#changed ??= path;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        const changed = this.#changed as string;
        this.#changed = undefined;
        this.#timer = undefined;
        onChange(changed);
      }, WATCH_DEBOUNCE_MS);
    };
    // A file is watched through its folder, one level deep: chokidar watching the file itself goes deaf for
    // good once the file is deleted and written again at once (a checkout, some editors' saves).
    const files = new Set(paths.filter(isFile).map((path) => resolve(path)));
    const folders = paths.filter((path) => !files.has(resolve(path)));
    // Each watcher with the paths it reports: all under a folder; of a file's folder, only the files named.
    const watchers: [FSWatcher, (path: string) => boolean][] = [];
    if (folders.length > 0) watchers.push([watch(folders, { ignoreInitial: true }), () => true]);
    if (files.size > 0) {
      const parents = [...new Set([...files].map((file) => dirname(file)))];
      const watcher = watch(parents, { ignoreInitial: true, depth: 0 });
      watchers.push([watcher, (path) => files.has(resolve(path))]);
    }
    this.#watchers = watchers.map(([watcher]) => watcher);
    this.ready = Promise.all(
      this.#watchers.map((watcher) => new Promise<void>((done) => watcher.once('ready', () => done()))),
    ).then(() => {});
    // One line per kind of error: a symlink loop alone gives one error per level of the loop.
    const reported = new Set<string>();
    for (const [watcher, reports] of watchers) {
      watcher.on('all', (_event, path) => {
        if (reports(path)) onEvent(path);
      });
      watcher.on('error', (error) => {
        const { code, message } = error as NodeJS.ErrnoException;
        const kind = code ?? message;
        if (reported.has(kind)) return;
        reported.add(kind);
        console.error(describeWatchError(message));
      });
    }
  }

  /** Stop watching; a change not yet reported is dropped. */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await Promise.all(this.#watchers.map((watcher) => watcher.close()));
  }
}

/** A file that is there now (a folder, or a path gone since it was checked, is watched as given). */
function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
