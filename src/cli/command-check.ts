import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, resolve } from 'node:path';
import { UsageError } from './args.ts';

/** Why `file` cannot be run, or undefined when it can: it exists, is not a folder, and may be executed. */
function getRunProblem(file: string): string | undefined {
  const stats = statSync(file, { throwIfNoEntry: false });
  if (stats === undefined) return 'no such file';
  if (stats.isDirectory()) return 'it is a directory';
  try {
    accessSync(file, constants.X_OK);
    return undefined;
  } catch {
    return 'it is not executable (chmod +x it, or name its interpreter first, as in: -- node render.js)';
  }
}

/** Where a program name is found on `path`, as execvp would look for it; undefined when nowhere. */
function findOnPath(name: string, path: string): string | undefined {
  for (const folder of path.split(delimiter)) {
    // An empty entry means the current folder, as in a shell.
    const file = resolve(folder || '.', name);
    if (getRunProblem(file) === undefined) return file;
  }
  return undefined;
}

/**
 * Check, before the proxy starts, that the transform command can be run: a name with a slash must be an
 * executable file, any other name must be found on PATH. Without this the proxy would start and answer every
 * request 502. A program name holding spaces is most often a whole command line quoted as one word.
 *
 * @param command The argv after `--`.
 * @param env The environment the command runs with (its `PATH`).
 * @param cwd The folder a relative path is resolved from.
 * @returns Nothing; throws a {@link UsageError} saying why the command cannot be run.
 * @example
 * ```ts
 * checkCommand(['tr', 'a-z', 'A-Z'], process.env, process.cwd()); // fine
 * checkCommand(['tr a-z A-Z'], process.env, process.cwd()); // throws: ... write each as its own word ...
 * ```
 */
export function checkCommand(
  command: readonly [string, ...string[]],
  env: NodeJS.ProcessEnv,
  cwd: string,
): void {
  const [program] = command;
  const problem = program.includes('/')
    ? getRunProblem(resolve(cwd, program))
    : findOnPath(program, env.PATH ?? '') === undefined
      ? 'no such program on PATH'
      : undefined;
  if (problem === undefined) return;
  const words = program.trim().split(/\s+/);
  const hint =
    words.length > 1
      ? `; it is one word with spaces: write the program and each argument as words of their own, as in: -- ${words.join(' ')}`
      : '';
  throw new UsageError(`Cannot run the command ${JSON.stringify(program)}: ${problem}${hint}`);
}
