import { type ChildProcess, spawn } from 'node:child_process';
import { getRunProblem } from '../shared/command-check.ts';
import type { ExitReason, ProcessEventSink } from '../shared/events.ts';
import type { ResolvedOptions } from '../shared/pool-options.ts';
import { killOnParentExit } from '../shared/reaper.ts';
import { getStderrMode } from '../shared/stderr.ts';
import type { GroupWatchdog } from '../shared/watchdog.ts';

/** What spawning a filter needs from its pool. */
export interface SpawnSettings {
  options: ResolvedOptions;
  events: ProcessEventSink;
  /** Kills every filter's group if the parent dies, however it dies. */
  watchdog: GroupWatchdog;
}

/** Report a filter's end as the pool's `exit` event. */
export function emitExit(
  { events, options }: SpawnSettings,
  pid: number,
  code: number | null,
  signal: NodeJS.Signals | null,
  reason: ExitReason,
): void {
  events.emit({
    type: 'exit',
    pid,
    command: options.commandText,
    code: code ?? undefined,
    signal: signal ?? undefined,
    reason,
    // A filter has one timer, silence on stdout; it may be reading all its input first, so no flush hint.
    ...(reason === 'timeout' && {
      timer: { option: 'timeout', ms: options.timeout, silent: false } as const,
    }),
  });
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

function getEnv(options: ResolvedOptions, request: Request | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...(options.extendEnv ? process.env : {}), ...options.env };
  // The filter knows nothing of HTTP: the request it answers comes as variables, like CGI's.
  if (request !== undefined && options.contextHeaders !== undefined) {
    env.TRANSFORM_REQUEST_METHOD = request.method;
    env.TRANSFORM_REQUEST_URL = request.url;
  }
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  return env;
}

/**
 * The two lines a filter started ahead reads before its body: the request's method and URL (a URL holds no
 * line break once parsed), or two empty lines.
 */
export function getContextLines(request: Request | undefined): string {
  return request === undefined ? '\n\n' : `${request.method}\n${request.url}\n`;
}

/**
 * Start one filter in a process group of its own, watched so it dies with the parent.
 *
 * @param settings The pool's options, event sink and watchdog.
 * @param request The request it answers, or `'ahead'` for a spare started before its request.
 * @returns The process; its `pid` is undefined when the spawn failed.
 */
export function spawnFilter(settings: SpawnSettings, request: Request | undefined | 'ahead'): FilterProcess {
  const { options } = settings;
  const ahead = request === 'ahead';
  const readsContext = ahead && options.contextHeaders !== undefined;
  const [file, ...args] = readsContext
    ? ['/bin/sh', '-c', CONTEXT_PRELUDE, 'sh', ...options.argv]
    : options.argv;
  const child = spawn(file as string, args, {
    cwd: options.cwd,
    env: getEnv(options, ahead ? undefined : request),
    uid: options.uid,
    gid: options.gid,
    detached: true,
    stdio: ['pipe', 'pipe', getStderrMode(options.stderr)],
  });
  const pid = child.pid;
  let forget = (): void => {};
  if (pid !== undefined) {
    const unregister = killOnParentExit(pid);
    settings.watchdog.watch(pid);
    forget = () => {
      unregister();
      settings.watchdog.unwatch(pid);
    };
    settings.events.emit({ type: 'spawn', pid, command: options.commandText });
  }
  return { child, pid, startedAt: Date.now(), readsContext, forget };
}

/**
 * Whether the command is still there to run, found as a spawn finds it: a path with a slash from `cwd`, a name
 * on the filter's PATH. A spare started before it went would otherwise meet the response and fail differently
 * from a spawn (sh's exit 127 instead of ENOENT).
 *
 * @param options The pool's options.
 * @returns True when a spawn of the command now would find an executable file.
 */
export function canRun(options: ResolvedOptions): boolean {
  return getRunProblem(options.argv, options) === undefined;
}

/** SIGKILL the filter's whole group, so whatever a shell filter started goes too. */
export function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
