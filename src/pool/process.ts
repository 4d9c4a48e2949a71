import { execa, type ResultPromise } from 'execa';
import { TransformError, type TransformErrorCode } from '../errors.ts';
import { waitForDrain, writeBatch } from '../io/write.ts';
import type { ResolvedOptions } from '../options.ts';
import { WireError } from '../wire/errors.ts';
import { ResponseParser } from '../wire/parser.ts';
import type { Exchange, ExchangeHost } from './exchange.ts';
import { killOnParentExit } from './reaper.ts';
import { getStderrMode, StderrSink } from './stderr.ts';

/** How a process ended. */
export interface ProcessExit {
  exitCode: number | undefined;
  signal: string | undefined;
  /** It never ran: the command could not be started. */
  spawnFailed: boolean;
  /** The pool asked it to stop (retired, replaced, killed on an error, or closed). */
  requested: boolean;
  /** It completed at least one transform. */
  served: boolean;
  /** Milliseconds it ran. */
  uptime: number;
}

/** What the pool hears from a process. */
export interface ProcessEvents {
  /** Ready for the next transform. */
  onIdle(process: TransformProcess): void;
  /** It will take no more work (retiring, or about to be killed): the pool may start its replacement. */
  onRetire(process: TransformProcess): void;
  /** It exited and every pipe is closed. */
  onExit(process: TransformProcess, exit: ProcessExit): void;
  /** A transform is to run again on another process. */
  onRetry(exchange: Exchange): void;
  /** Ask the recycle policy whether to retire after a transform. */
  shouldRetire(process: TransformProcess): boolean | Promise<boolean>;
}

/** Between SIGTERM and SIGKILL, and between closing stdin and SIGTERM. */
export const KILL_GRACE_MS = 1000;

type Subprocess = ResultPromise<{ buffer: false; reject: false; encoding: 'buffer'; detached: true }>;

function unrefStream(stream: unknown, ref: boolean): void {
  const handle = stream as { ref?: () => void; unref?: () => void } | null;
  if (ref) handle?.ref?.();
  else handle?.unref?.();
}

/**
 * One long-lived transform process, spawned with execa in its own process group. It runs one exchange at a
 * time, feeds its stdout to a strict parser, and treats any byte it writes while nothing is in flight as a
 * protocol error. It keeps the parent's event loop alive only while it works.
 */
export class TransformProcess implements ExchangeHost {
  readonly pid: number | undefined;
  readonly startedAt = Date.now();
  /** Completed transforms. */
  transforms = 0;
  readonly #options: ResolvedOptions;
  readonly #events: ProcessEvents;
  readonly #subprocess: Subprocess;
  readonly #parser: ResponseParser;
  readonly #stderr: StderrSink | undefined;
  #exchange: Exchange | undefined;
  #retiring = false;
  #requested = false;
  #exited = false;
  #echoesId = false;
  #paused = false;
  /** Inside `parser.push`: a release waits until the whole chunk is parsed, so leftover bytes are caught. */
  #parsing = false;
  #deferredRelease: { exchange: Exchange; closeAfter: boolean } | undefined;
  #killTimers: ReturnType<typeof setTimeout>[] = [];
  #onceClosed!: () => void;
  /** Settles once the process has exited and its pipes are closed. */
  readonly closed = new Promise<void>((resolve) => {
    this.#onceClosed = resolve;
  });

  constructor(options: ResolvedOptions, events: ProcessEvents) {
    this.#options = options;
    this.#events = events;
    const [file, ...args] = options.argv;
    this.#subprocess = execa(file, args, {
      cwd: options.cwd,
      env: options.env,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: getStderrMode(options.stderr),
      buffer: false,
      encoding: 'buffer',
      reject: false,
      // Its own process group, so a kill reaches what a shell command started too.
      detached: true,
    }) as Subprocess;
    const subprocess = this.#subprocess;
    this.pid = subprocess.pid;
    this.#parser = new ResponseParser(
      {
        onMessageBegin: () => this.#onMessageBegin(),
        onHead: (head) => {
          this.#checkRequestId(head.context.get('id'));
          (this.#exchange as Exchange).onHead(head);
        },
        onBody: (chunk) => {
          if (!(this.#exchange as Exchange).onBody(chunk)) this.pauseOutput();
        },
        onMessageEnd: () => (this.#exchange as Exchange).onMessageEnd(),
      },
      { limits: options.limits },
    );
    if (this.pid !== undefined) {
      this.#stderr =
        getStderrMode(options.stderr) === 'pipe' ? new StderrSink(options.stderr, this.pid) : undefined;
      subprocess.stderr?.on('data', (chunk: Uint8Array) => this.#stderr?.write(chunk));
      subprocess.stdout?.on('data', (chunk: Uint8Array) => this.#onOutput(chunk));
      subprocess.stdout?.on('end', () => this.#onOutputEnd());
      subprocess.stdin?.on('error', () => this.#onInputError());
      // The group leader is gone: take anything it left in its group with it, so the pipes close.
      subprocess.once('exit', () => this.#signalGroup('SIGKILL'));
      const untrack = killOnParentExit(this.pid);
      void this.closed.then(untrack);
      this.#setRef(false);
    }
    subprocess.then(
      (result) => this.#onClosed(result),
      (error: unknown) => this.#onClosed({ failed: true, cause: error }),
    );
  }

  get busy(): boolean {
    return this.#exchange !== undefined;
  }

  /** Run a transform. The process must be available and idle. */
  run(exchange: Exchange): void {
    this.#exchange = exchange;
    this.#setRef(true);
    exchange.start(this);
  }

  write(batch: readonly Uint8Array[], onWritten?: (error?: Error | null) => void): boolean {
    const stdin = this.#subprocess.stdin;
    if (stdin === null || stdin.destroyed) {
      onWritten?.(new Error('stdin is closed'));
      throw new Error('stdin is closed');
    }
    return writeBatch(stdin, batch, onWritten);
  }

  drained(): Promise<void> {
    const stdin = this.#subprocess.stdin;
    return stdin === null ? Promise.reject(new Error('stdin is closed')) : waitForDrain(stdin);
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

  release(exchange: Exchange, closeAfter: boolean): void {
    if (exchange !== this.#exchange) return;
    if (this.#parsing) {
      this.#deferredRelease = { exchange, closeAfter };
      return;
    }
    this.#exchange = undefined;
    this.transforms++;
    exchange.confirm();
    // The last chunk may have filled the reader's queue: the next transform must find output flowing.
    this.resumeOutput();
    this.#setRef(false);
    // The transform said it will send nothing more (RFC 9112 section 9.6), or the recycle policy says so.
    if (closeAfter || this.transforms >= this.#options.maxRequestsPerProcess) {
      this.retire();
      return;
    }
    const verdict = this.#events.shouldRetire(this);
    if (verdict === false) {
      this.#becomeIdle();
      return;
    }
    if (verdict === true) {
      this.retire();
      return;
    }
    verdict.then(
      (retire) => (retire ? this.retire() : this.#becomeIdle()),
      (error: unknown) => {
        console.error('subprocess-transform: the recycle hook threw; retiring the process', error);
        this.retire();
      },
    );
  }

  discard(exchange: Exchange, reason: TransformError): void {
    if (exchange !== this.#exchange) return;
    this.#exchange = undefined;
    this.kill(reason.message);
  }

  createError(
    code: TransformErrorCode,
    message: string,
    cause?: unknown,
    exit?: ProcessExit,
  ): TransformError {
    return new TransformError(code, `${this.#describe()} ${message}`, {
      cause,
      command: this.#options.commandText,
      pid: this.pid,
      exitCode: exit?.exitCode,
      signal: exit?.signal,
      stderr: this.#stderr?.tail,
    });
  }

  /** Take no more work; stop once the transform in flight is done: close stdin, then SIGTERM, then SIGKILL. */
  retire(): void {
    this.#markRetiring();
    if (this.#exchange !== undefined || this.#requested) return;
    this.#requested = true;
    this.#subprocess.stdin?.end();
    this.#killTimers.push(setTimeout(() => this.#terminate(), KILL_GRACE_MS));
  }

  /** Stop now: SIGTERM to the process group, SIGKILL after a grace period. */
  kill(reason?: string): void {
    this.#markRetiring();
    if (this.#requested && this.#killTimers.length > 0) return;
    if (reason !== undefined) this.#stderr?.log(`killed: ${reason}`);
    this.#requested = true;
    this.#terminate();
  }

  #markRetiring(): void {
    if (this.#retiring) return;
    this.#retiring = true;
    this.#events.onRetire(this);
  }

  #terminate(): void {
    if (this.#exited) return;
    this.#signalGroup('SIGTERM');
    // Our own timer: Deno never sends a second signal through ChildProcess.kill (RUNTIMES.md).
    this.#killTimers.push(setTimeout(() => this.#signalGroup('SIGKILL'), KILL_GRACE_MS));
  }

  #signalGroup(signal: NodeJS.Signals): void {
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // Already gone.
    }
  }

  #becomeIdle(): void {
    if (this.#retiring) {
      this.retire();
      return;
    }
    this.#events.onIdle(this);
  }

  #describe(): string {
    return `Transform "${this.#options.commandText}" (pid ${this.pid ?? 'none'})`;
  }

  /** Its stdin is gone: it can take no more input, so it is of no use even if it lingers. */
  #onInputError(): void {
    if (!this.#exited) this.kill('its stdin closed');
  }

  #onMessageBegin(): void {
    if (this.#exchange === undefined) {
      throw this.createError('ERR_TRANSFORM_PROTOCOL', 'wrote output while no transform was in flight');
    }
    this.#exchange.onMessageBegin();
  }

  /** `Transform-Request-Id` must name the message in flight, and once echoed, always be (CONTRACT section 3). */
  #checkRequestId(id: string | undefined): void {
    const exchange = this.#exchange as Exchange;
    if (id === undefined) {
      if (this.#echoesId)
        throw this.createError('ERR_TRANSFORM_PROTOCOL', 'stopped echoing Transform-Request-Id');
      return;
    }
    if (id !== String(exchange.id)) {
      throw this.createError(
        'ERR_TRANSFORM_PROTOCOL',
        `answered request ${id} while request ${exchange.id} was in flight`,
      );
    }
    this.#echoesId = true;
  }

  #onOutput(chunk: Uint8Array): void {
    this.#parse(() => this.#parser.push(chunk));
  }

  #onOutputEnd(): void {
    // Completes a body delimited by the end of output; a cut-off message is left to the exit to report.
    this.#parse(() => this.#parser.end());
  }

  /** Parse, then hand out a head that came with no error in the same bytes, then release the process. */
  #parse(step: () => void): void {
    const exchange = this.#exchange;
    this.#parsing = true;
    try {
      step();
    } catch (error) {
      this.#parsing = false;
      this.#deferredRelease = undefined;
      if (error instanceof WireError && error.code === 'ERR_WIRE_INCOMPLETE') return;
      this.#onProtocolError(error);
      return;
    }
    this.#parsing = false;
    exchange?.deliver();
    const release = this.#deferredRelease;
    this.#deferredRelease = undefined;
    if (release !== undefined) this.release(release.exchange, release.closeAfter);
  }

  /** Its framing can no longer be trusted: fail what is in flight, never read another byte, replace it. */
  #onProtocolError(error: unknown): void {
    const reason =
      error instanceof TransformError
        ? error
        : this.createError(
            'ERR_TRANSFORM_PROTOCOL',
            `broke the protocol: ${(error as Error).message}`,
            error,
          );
    this.#subprocess.stdout?.removeAllListeners('data');
    this.#subprocess.stdout?.resume();
    const exchange = this.#exchange;
    this.#exchange = undefined;
    exchange?.onProcessGone(reason, false);
    this.kill(reason.message);
  }

  #onClosed(result: { exitCode?: number; signal?: string; failed?: boolean; cause?: unknown }): void {
    this.#exited = true;
    for (const timer of this.#killTimers) clearTimeout(timer);
    this.#stderr?.end();
    const spawnFailed = this.pid === undefined;
    const exit: ProcessExit = {
      exitCode: result.exitCode,
      signal: result.signal,
      spawnFailed,
      requested: this.#requested,
      served: this.transforms > 0,
      uptime: Date.now() - this.startedAt,
    };
    const exchange = this.#exchange;
    this.#exchange = undefined;
    if (exchange !== undefined) {
      const reason = spawnFailed
        ? new TransformError(
            'ERR_TRANSFORM_SPAWN',
            `Transform "${this.#options.commandText}" could not be started: ${describeCause(result.cause)}`,
            {
              cause: result.cause,
              command: this.#options.commandText,
            },
          )
        : this.#exitError(exit);
      if (exchange.onProcessGone(reason, !spawnFailed)) this.#events.onRetry(exchange);
    }
    this.#events.onExit(this, exit);
    this.#onceClosed();
  }

  #exitError(exit: ProcessExit): TransformError {
    const how =
      exit.signal !== undefined ? `was killed with ${exit.signal}` : `exited with code ${exit.exitCode}`;
    return this.createError('ERR_TRANSFORM_EXIT', `${how} before its response was complete`, undefined, exit);
  }

  #setRef(ref: boolean): void {
    const subprocess = this.#subprocess;
    if (ref) subprocess.ref();
    else subprocess.unref();
    unrefStream(subprocess.stdin, ref);
    unrefStream(subprocess.stdout, ref);
    unrefStream(subprocess.stderr, ref);
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string'
      ? `${code}: ${cause.message.split('\n')[0]}`
      : (cause.message.split('\n')[0] ?? '');
  }
  return String(cause);
}
