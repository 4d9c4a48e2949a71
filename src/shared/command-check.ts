import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, resolve } from 'node:path';
import { TransformError } from './errors.ts';

/** Where and with what environment a command is run: the pool options that decide how a spawn finds it. */
export interface RunPlace {
  cwd: string | undefined;
  env: Record<string, string | undefined> | undefined;
  extendEnv: boolean;
}

/** The problem of a file that exists but may not be executed. */
export const NOT_EXECUTABLE = 'it is not executable';

/** What execvp searches when the environment has no PATH at all. */
const DEFAULT_PATH = '/usr/bin:/bin';

/** The PATH a spawn searches for a program name: the process's own, as its environment will hold it. */
function getSearchPath(place: RunPlace): string {
  const path = place.env?.PATH ?? (place.extendEnv ? process.env.PATH : undefined);
  return path === undefined || path === '' ? DEFAULT_PATH : path;
}

/** Why `file` cannot be run, or undefined when it can: it exists, is not a folder, and may be executed. */
function getFileProblem(file: string): string | undefined {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(file, { throwIfNoEntry: false });
  } catch {
    // Not allowed to look (a Deno permission, a folder we may not read): the spawn will tell.
    return undefined;
  }
  if (stats === undefined) return 'no such file';
  if (stats.isDirectory()) return 'it is a directory';
  try {
    accessSync(file, constants.X_OK);
    return undefined;
  } catch {
    return NOT_EXECUTABLE;
  }
}

/**
 * Why the program of `argv` cannot be run, found as a spawn finds it, or undefined when it can: a name with a
 * slash is a file from `cwd`, any other name is searched on the process's PATH (an empty or relative entry
 * from `cwd` too, as execvp does).
 *
 * @param argv The command; only its program is looked at.
 * @param place The options that decide where a spawn looks.
 * @returns The reason, in words for a message, or undefined.
 * @example
 * ```ts
 * getRunProblem(['nodee', 'render.js'], { cwd: undefined, env: undefined, extendEnv: true });
 * // 'no program "nodee" on PATH (searched /usr/local/bin:/usr/bin:/bin)'
 * ```
 */
export function getRunProblem(argv: readonly [string, ...string[]], place: RunPlace): string | undefined {
  const [program] = argv;
  const from = place.cwd ?? process.cwd();
  if (program.includes('/')) return getFileProblem(resolve(from, program));
  const path = getSearchPath(place);
  const found = path
    .split(delimiter)
    .some((folder) => getFileProblem(resolve(from, folder === '' ? '.' : folder, program)) === undefined);
  return found ? undefined : `no program ${JSON.stringify(program)} on PATH (searched ${path})`;
}

/**
 * Refuse, when a pool is made, a command that no spawn could run: without this the pool would start and fail
 * every transform with `ERR_TRANSFORM_SPAWN`, backing off for ever. A program name holding spaces is most often
 * a whole command line given as one array item.
 *
 * @param argv The command.
 * @param commandText The command as one string, for the message.
 * @param place The options that decide where a spawn looks.
 * @returns Nothing; throws a `TransformError` with code `ERR_TRANSFORM_SPAWN` naming the command and why.
 */
export function assertRunnable(
  argv: readonly [string, ...string[]],
  commandText: string,
  place: RunPlace,
): void {
  const problem = getRunProblem(argv, place);
  if (problem === undefined) return;
  const advice =
    problem === NOT_EXECUTABLE
      ? ` (chmod +x it, or name its interpreter first, as in ["node", "render.js"])`
      : '';
  const words = argv[0].trim().split(/\s+/);
  const hint =
    words.length > 1
      ? `; its program is one word with spaces: give the program and each argument as words of their own, as in ${JSON.stringify(words)}`
      : '';
  throw new TransformError(
    'ERR_TRANSFORM_SPAWN',
    `Transform "${commandText}" cannot be started: ${problem}${advice}${place.cwd === undefined ? '' : ` (cwd "${place.cwd}")`}${hint}`,
    { command: commandText },
  );
}
