import { getRunProblem, NOT_EXECUTABLE } from '../shared/command-check.ts';
import { UsageError } from './args.ts';

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
  const found = getRunProblem(command, { cwd, env, extendEnv: false });
  if (found === undefined) return;
  // The flags' own words: a path is named by what is wrong with the file, a name by where it was looked for.
  const problem = program.includes('/') ? found : 'no such program on PATH';
  const advice =
    problem === NOT_EXECUTABLE
      ? ' (chmod +x it, or name its interpreter first, as in: -- node render.js)'
      : '';
  const words = program.trim().split(/\s+/);
  const hint =
    words.length > 1
      ? `; it is one word with spaces: write the program and each argument as words of their own, as in: -- ${words.join(' ')}`
      : '';
  throw new UsageError(`Cannot run the command ${JSON.stringify(program)}: ${problem}${advice}${hint}`);
}
