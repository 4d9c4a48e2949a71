import { execa, type ResultPromise } from 'execa';
import type { ResolvedOptions } from '../shared/pool-options.ts';
import { signalGroup } from '../shared/process-group.ts';
import { killOnParentExit } from '../shared/reaper.ts';
import { getStderrMode, StderrSink } from '../shared/stderr.ts';
import type { GroupWatchdog } from '../shared/watchdog.ts';
import { waitForDrain, writeBatch } from '../util/write.ts';
import { CHILD_MARKER, formatHeadLimits, HEAD_LIMITS_VARIABLE } from '../wire/child-marker.ts';

/** Between closing stdin and SIGTERM, and between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 1000;

/** The most bytes held for one writev: Linux's default pipe capacity, what an empty pipe takes whole. */
const HOLD_MAX_BYTES = 64 * 1024;

/** How the process ended, once it and its pipes are closed. */
export interface ClosedResult {
  exitCode?: number;
  signal?: string;
  /** Set when the command could not be started. */
  cause?: unknown;
}

/** What a {@link GroupProcess} reports, in the order it happens. */
export interface GroupProcessEvents {
  onOutput(chunk: Uint8Array): void;
  onOutputEnd(): void;
  /** Its stdin failed (EPIPE): it takes no more input. */
  onInputError(): void;
  /** The leader exited; its pipes may still be open (`onClosed` follows once they are closed). */
  onExit(): void;
  onClosed(result: ClosedResult): void;
}

type Subprocess = ResultPromise<{ buffer: false; reject: false; encoding: 'buffer'; detached: true }>;

function setStreamRef(stream: unknown, ref: boolean): void {
  const handle = stream as { ref?: () => void; unref?: () => void } | null;
  if (ref) handle?.ref?.();
  else handle?.unref?.();
}

/**
 * One program spawned with execa as the leader of its own process group, so a kill reaches whatever it
 * started too; the group dies with the parent however the parent ends (the watchdog, and an exit hook).
 * The pipes and signals only: what the bytes mean is the caller's business. stderr is always drained.
 */
export class GroupProcess {
  readonly pid: number | undefined;
  readonly startedAt = Date.now();
  readonly #subprocess: Subprocess;
  readonly #stderr: StderrSink | undefined;
  #paused = false;
  #exited = false;
  /** Writes are held until the end of this turn, to leave in one writev; `#held` bytes so far. */
  #holding = false;
  #held = 0;
  #timers: ReturnType<typeof setTimeout>[] = [];

  constructor(options: ResolvedOptions, watchdog: GroupWatchdog, events: GroupProcessEvents) {
    const [file, ...args] = options.argv;
    const subprocess = execa(file, args, {
      cwd: options.cwd,
      // Tells `subprocess-transform/child` that stdout is the protocol from the first byte.
      env: { ...options.env, [CHILD_MARKER]: '1', [HEAD_LIMITS_VARIABLE]: formatHeadLimits(options.limits) },
      extendEnv: options.extendEnv,
      uid: options.uid,
      gid: options.gid,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: getStderrMode(options.stderr),
      buffer: false,
      encoding: 'buffer',
      reject: false,
      detached: true,
    }) as Subprocess;
    this.#subprocess = subprocess;
    this.pid = subprocess.pid;
    const pgid = this.pid;
    if (pgid !== undefined) {
      const stderr =
        getStderrMode(options.stderr) === 'pipe' ? new StderrSink(options.stderr, pgid) : undefined;
      this.#stderr = stderr;
      subprocess.stderr?.on('data', (chunk: Uint8Array) => stderr?.write(chunk));
      subprocess.stdout?.on('data', (chunk: Uint8Array) => events.onOutput(chunk));
      subprocess.stdout?.on('end', () => events.onOutputEnd());
      subprocess.stdin?.on('error', () => events.onInputError());
      watchdog.watch(pgid);
      const forget = killOnParentExit(pgid);
      subprocess.once('exit', () => {
        // The leader is gone: take what it left in its group with it, so the pipes close. The group's id
        // may be reused once they are gone, so it is forgotten now.
        this.#signal('SIGKILL');
        watchdog.unwatch(pgid);
        forget();
        events.onExit();
      });
      this.setRef(false);
    }
    subprocess.then(
      (result) => this.#onClosed(events, result),
      (error: unknown) => this.#onClosed(events, { cause: error }),
    );
  }

  /** The last few KiB of stderr, when it is captured. */
  get stderrTail(): string | undefined {
    return this.#stderr?.tail;
  }

  /**
   * Write a batch as one writev (with the batches held before it this turn, while they fit an empty pipe
   * together); `onWritten` hears how it ended. Throws once stdin is closed.
   */
  write(batch: readonly Uint8Array[], onWritten: (error?: Error | null) => void): boolean {
    const stdin = this.#subprocess.stdin;
    if (stdin === null || stdin.destroyed) throw new Error('stdin is closed');
    if (this.#holding) {
      let bytes = 0;
      for (const view of batch) bytes += view.byteLength;
      if (this.#held > 0 && this.#held + bytes > HOLD_MAX_BYTES) {
        // What is held goes first, on its own: a writev that fits an empty pipe whole fails only if the
        // pipe was closed before it, which is how a process found dead is told from one a message killed.
        stdin.uncork();
        stdin.cork();
        this.#held = 0;
      }
      this.#held += bytes;
    }
    return writeBatch(stdin, batch, onWritten);
  }

  /**
   * Hold writes until the turn's promise jobs have run (a nextTick queued from them runs after the last), so
   * the messages that leave in one turn go out in one writev.
   */
  holdWritesForTurn(): void {
    const stdin = this.#subprocess.stdin;
    if (this.#holding || stdin === null || stdin.destroyed) return;
    this.#holding = true;
    stdin.cork();
    process.nextTick(() => {
      this.#holding = false;
      this.#held = 0;
      stdin.uncork();
    });
  }

  drained(): Promise<void> {
    const stdin = this.#subprocess.stdin;
    return stdin === null ? Promise.reject(new Error('stdin is closed')) : waitForDrain(stdin);
  }

  /** Its output is held: a reader of what it is answering has no room. */
  get outputPaused(): boolean {
    return this.#paused;
  }

  pauseOutput(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#subprocess.stdout?.pause();
  }

  resumeOutput(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#subprocess.stdout?.resume();
  }

  /** Read no more of its output (its framing cannot be trusted): what it writes is dropped. */
  stopReading(): void {
    this.#subprocess.stdout?.removeAllListeners('data');
    this.#subprocess.stdout?.resume();
  }

  /** Hold the parent's event loop open only while there is work. */
  setRef(ref: boolean): void {
    // No process to hold (the command could not be started): Deno's ChildProcess.ref throws then.
    if (this.pid === undefined) return;
    const subprocess = this.#subprocess;
    if (ref) subprocess.ref();
    else subprocess.unref();
    setStreamRef(subprocess.stdin, ref);
    setStreamRef(subprocess.stdout, ref);
    setStreamRef(subprocess.stderr, ref);
  }

  /** Close stdin (a transform exits on that), and signal the group if it has not exited a grace later. */
  endInput(): void {
    this.#subprocess.stdin?.end();
    this.#timers.push(setTimeout(() => this.terminate(), KILL_GRACE_MS));
  }

  /** SIGTERM to the group, SIGKILL a grace later. */
  terminate(): void {
    if (this.#exited) return;
    this.#signal('SIGTERM');
    // Our own timer: Deno never sends a second signal through ChildProcess.kill.
    this.#timers.push(setTimeout(() => this.#signal('SIGKILL'), KILL_GRACE_MS));
  }

  #signal(signal: NodeJS.Signals): void {
    signalGroup(this.pid, signal);
  }

  #onClosed(events: GroupProcessEvents, result: ClosedResult): void {
    this.#exited = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#stderr?.end();
    events.onClosed(result);
  }
}
