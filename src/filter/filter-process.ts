import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { signalGroup, spawnGroup } from '../shared/process-group.ts';
import { killOnParentExit } from '../shared/reaper.ts';
import type { GroupWatchdog } from '../shared/watchdog.ts';
import { type FilterConfig, getFilterEnv } from './config.ts';
import { passLines, reportEvent } from './report.ts';

type ChildProcess = ReturnType<typeof spawnGroup>;

/** What spawning a filter needs, inside the filter child. */
export interface SpawnSettings {
  config: FilterConfig;
  /** The filter's environment when it needs no request context. */
  env: NodeJS.ProcessEnv;
  /** Kills every filter's group if the filter child dies, however it dies. */
  watchdog: GroupWatchdog;
}

/** One filter process, started for a response or ahead of one. */
export interface FilterProcess {
  child: ChildProcess;
  /** Undefined when the spawn failed (the `error` event says why). */
  pid: number | undefined;
  /** In ms since the epoch. */
  startedAt: number;
  /** Started ahead with the request context wanted: it reads the method and URL as two lines first. */
  readsContext: boolean;
  /** Once it is gone: its group is no longer watched (before its id can be reused). */
  forget: () => void;
}

// A filter started before its request cannot be given that request's environment, so it is started inside
// this POSIX sh prelude: it reads two lines (method, URL; empty when there is no request), exports them and
// execs the filter, whose pid, stdin, stdout and exit status are then the prelude's own. `read` takes one byte
// at a time from a pipe, so the body that follows is left whole for the filter. A command sh cannot find ends
// the spare at once, so it is never handed a response.
const CONTEXT_PRELUDE = `command -v "$1" >/dev/null 2>&1 || exit 127
IFS= read -r method; IFS= read -r url
if [ -n "$method" ]; then export TRANSFORM_REQUEST_METHOD="$method" TRANSFORM_REQUEST_URL="$url"; fi
exec "$@"`;

/** The filter's environment for one request: like CGI's, the request it answers comes as variables. */
function getRequestEnv(settings: SpawnSettings, request: Request | undefined): NodeJS.ProcessEnv {
  if (request === undefined || !settings.config.context) return settings.env;
  return { ...settings.env, TRANSFORM_REQUEST_METHOD: request.method, TRANSFORM_REQUEST_URL: request.url };
}

/** The settings of the filter child, from its config and environment. */
export function getSpawnSettings(config: FilterConfig, watchdog: GroupWatchdog): SpawnSettings {
  return { config, env: getFilterEnv(config, process.env), watchdog };
}

/**
 * The two lines a filter started ahead reads before its body: the request's method and URL (a URL holds no
 * line break once parsed), or two empty lines.
 */
export function getContextLines(request: Request | undefined): string {
  return request === undefined ? '\n\n' : `${request.method}\n${request.url}\n`;
}

/**
 * Start one filter in a process group of its own, watched so it dies with the filter child. Its stderr goes to
 * the child's, which the pool drains.
 *
 * @param settings The config, environment and watchdog.
 * @param request The request it answers, or `'ahead'` for a spare started before its request.
 * @returns The process; its `pid` is undefined when the spawn failed.
 */
export function spawnFilter(settings: SpawnSettings, request: Request | undefined | 'ahead'): FilterProcess {
  const { config } = settings;
  const ahead = request === 'ahead';
  const readsContext = ahead && config.context;
  const [file, ...args] = readsContext
    ? ['/bin/sh', '-c', CONTEXT_PRELUDE, 'sh', ...config.argv]
    : config.argv;
  const child = spawnGroup(file as string, args, {
    cwd: config.cwd,
    env: ahead ? settings.env : getRequestEnv(settings, request),
    uid: config.uid,
    gid: config.gid,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // Passed on, not inherited: a filter left writing when its child is gone (a client that left) finds its
  // stderr closed too, and no line of it reaches the server's log. Whole lines, so reports stay apart.
  if (child.stderr !== null) passLines(child.stderr);
  // A filter that exits before reading all its input (head, sed q): the write fails, its exit says how it went.
  child.stdin?.on('error', () => {});
  const pid = child.pid;
  let forget = (): void => {};
  if (pid !== undefined) {
    reportEvent({ type: 'spawn', pid });
    const unregister = killOnParentExit(pid);
    settings.watchdog.watch(pid);
    forget = () => {
      unregister();
      settings.watchdog.unwatch(pid);
    };
  }
  return { child, pid, startedAt: Date.now(), readsContext, forget };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Where the command was found last: checked first, one system call while it stays there. */
let found: string | undefined;

/**
 * Whether the command is still there to run, found as a spawn finds it: a path with a slash from `cwd`, a name
 * on the filter's PATH. A spare started before it went would otherwise meet the response and fail differently
 * from a spawn (sh's exit 127 instead of ENOENT).
 *
 * @param settings The config and the filter's environment.
 * @returns True when a spawn of the command now would find an executable file.
 */
export function canRun({ config, env }: SpawnSettings): boolean {
  if (found !== undefined && isExecutable(found)) return true;
  const [command] = config.argv;
  const candidates = command.includes('/')
    ? [resolve(config.cwd ?? '.', command)]
    : (env.PATH ?? '/usr/bin:/bin').split(delimiter).map((folder) => join(folder || '.', command));
  found = candidates.find(isExecutable);
  return found !== undefined;
}

/** SIGKILL the filter's whole group, so whatever a shell filter started goes too. */
export function killFilter(filter: FilterProcess): void {
  signalGroup(filter.pid, 'SIGKILL');
}
