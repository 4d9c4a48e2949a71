import type { Writable } from 'node:stream';
import { spawnGroup } from './process-group.ts';

type ChildProcess = ReturnType<typeof spawnGroup>;

/** Its `$0`, so `ps` shows what it is. */
const WATCHDOG_NAME = 'subprocess-transform-watchdog';

// POSIX sh only (dash, bash, busybox, macOS): process groups are not a Windows concept. It reads `+<pgid>` and
// `-<pgid>` lines into a set (a watched id is never added twice; 0, 1 and anything but digits are refused, so
// it can never signal its own group or every process) and, at end of input, SIGKILLs each group left.
// `kill -s KILL -- -<pgid>` is the spelling dash accepts: it rejects `kill -KILL -- -<pgid>` as "Illegal number".
const WATCHDOG_SCRIPT = `trap '' HUP INT TERM
groups=' '
while IFS= read -r line; do
  pgid=\${line#?}
  case $pgid in ''|*[!0-9]*|0*|1) continue ;; esac
  case $line in
    +*) case $groups in *" $pgid "*) ;; *) groups="$groups$pgid " ;; esac ;;
    -*) case $groups in *" $pgid "*) groups="\${groups%% $pgid *} \${groups#* $pgid }" ;; esac ;;
  esac
done
for pgid in $groups; do kill -s KILL -- "-$pgid"; done
`;

/**
 * Kills watched process groups once the parent is gone, however it went: exit, SIGTERM, SIGINT or SIGKILL.
 *
 * A tiny `/bin/sh` script (no runtime of its own, started in about a millisecond) in its own session, so a
 * Ctrl-C to the terminal's foreground group never reaches it; it ignores SIGHUP, SIGINT and SIGTERM too. It
 * holds the read end of a pipe whose only writer is the parent: the kernel closes that when the parent dies,
 * and on the end of input the watchdog SIGKILLs every group still watched, then exits. It is best effort:
 * if it cannot start or dies, the calls here do nothing (a parent that exits normally still kills its groups
 * in its `exit` hook).
 *
 * @example
 * ```ts
 * const watchdog = GroupWatchdog.start();
 * const child = spawn('sh', ['-c', 'sleep 300 & exec cat'], { detached: true });
 * watchdog.watch(child.pid as number); // the group dies with this process
 * child.once('exit', () => watchdog.unwatch(child.pid as number)); // before its id can be reused
 * watchdog.close(); // once every watched group is gone: it exits without killing anything
 * ```
 */
export class GroupWatchdog {
  readonly #input: Writable | null;

  private constructor(child: ChildProcess) {
    this.#input = child.stdin;
    child.once('error', (error) => {
      console.error(
        `subprocess-transform: could not start the process group watchdog: ${error.message}; transform processes may outlive a parent killed by a signal`,
      );
    });
    // The watchdog gone, a write fails with EPIPE: it can only be ignored.
    this.#input?.on('error', () => {});
    // Neither keeps the parent's event loop alive: the watchdog only has to outlive it.
    child.unref();
    (this.#input as { unref?: () => void } | null)?.unref?.();
  }

  /**
   * Start a watchdog: one small `/bin/sh` process, in its own session.
   *
   * @returns The watchdog; `close()` it once the groups it watches are gone.
   */
  static start(): GroupWatchdog {
    const child = spawnGroup('/bin/sh', ['-c', WATCHDOG_SCRIPT, WATCHDOG_NAME], {
      stdio: ['pipe', 'ignore', 'ignore'],
      // Hold no directory busy, and read no startup file named by the parent's environment.
      cwd: '/',
      env: {},
    });
    return new GroupWatchdog(child);
  }

  /**
   * Kill this process group when the parent goes away.
   *
   * @param pgid The group's id: the pid of a process spawned with `detached: true`.
   */
  watch(pgid: number): void {
    validatePgid(pgid);
    this.#send(`+${pgid}`);
  }

  /**
   * Forget a group. Call it once its leader has exited and the group was killed: its id may then be reused.
   *
   * @param pgid The id passed to {@link GroupWatchdog.watch}.
   */
  unwatch(pgid: number): void {
    validatePgid(pgid);
    this.#send(`-${pgid}`);
  }

  /** End the pipe: the watchdog kills any group still watched and exits. Idempotent. */
  close(): void {
    if (this.#input?.writable) this.#input.end();
  }

  #send(line: string): void {
    if (this.#input?.writable) this.#input.write(`${line}\n`);
  }
}

function validatePgid(pgid: number): void {
  // 0 would be the watchdog's own group and 1 every process it may signal.
  if (!Number.isSafeInteger(pgid) || pgid <= 1) {
    throw new RangeError(`Expected \`pgid\` to be an integer above 1, got ${pgid}`);
  }
}
