import { appendFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect } from 'vitest';
import { createTransformPool, type PoolOptions, type TransformPool } from '../src/index.ts';
import type { ProcessEvent } from '../src/shared/events.ts';

/** Absolute path of a fixture program. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** The argv that runs a fixture with this Node. */
export function nodeFixture(name: string, ...args: string[]): string[] {
  return [process.execPath, fixture(name), ...args];
}

const pools = new Set<TransformPool>();

/** Close this pool after the test, whatever happens. */
export function track<T extends TransformPool | { pool: TransformPool }>(subject: T): T {
  pools.add('pool' in subject ? subject.pool : subject);
  return subject;
}

/** A pool closed after the test: one process, its stderr dropped, unless `options` says otherwise. */
export function createPool(options: PoolOptions): TransformPool {
  return track(createTransformPool({ stderr: 'ignore', processes: 1, ...options }));
}

/** The body of the answer, or `rejected <code>` when the transform or the reading of its body fails. */
export async function outcomeOf(promise: Promise<Response>): Promise<string> {
  try {
    return await (await promise).text();
  } catch (error) {
    return `rejected ${(error as { code?: string }).code ?? String(error)}`;
  }
}

afterEach(async () => {
  await Promise.all([...pools].map((pool) => pool.close({ timeout: 2000 })));
  pools.clear();
});

/** A process as /proc shows it. */
export interface ProcInfo {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
  /** Its command line; empty once it is a zombie. */
  argv: string[];
}

/** What /proc says of `pid`, or undefined once it is gone. */
export function readProcess(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields after it follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
    return { pid, state: fields[0] as string, ppid: Number(fields[1]), pgrp: Number(fields[2]), argv };
  } catch {
    return undefined;
  }
}

/** Every process on the machine. */
export function listProcesses(): ProcInfo[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map((entry) => readProcess(Number(entry)))
    .filter((info) => info !== undefined);
}

/** Children of this test process, zombies included. */
export function listChildren(): ProcInfo[] {
  return listProcesses().filter((info) => info.ppid === process.pid);
}

/** Running: present and not a zombie (PID 1 here does not reap orphans, so a zombie counts as dead). */
export function isRunning(pid: number): boolean {
  const info = readProcess(pid);
  return info !== undefined && info.state !== 'Z';
}

/**
 * Ended for good: a zombie (or reaped) whose other threads have exited too. A zombie leader's threads may
 * still hold its pipes open, for longer on a loaded machine.
 */
export function hasEnded(pid: number): boolean {
  if (isRunning(pid)) return false;
  try {
    return readdirSync(`/proc/${pid}/task`).length <= 1;
  } catch {
    return true;
  }
}

/** Whether a pid is running or a zombie. */
export function exists(pid: number): boolean {
  return readProcess(pid) !== undefined;
}

/** Open file descriptors of this process. */
export function countOpenFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Poll until `check` is true or `ms` pass; returns the last result. */
export async function waitFor(check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(20);
  }
  return check();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Its `$0`: a pool's group watchdog leads its own group too, but is no transform. */
const WATCHDOG_NAME = 'subprocess-transform-watchdog';

/** Watchdogs seen so far: one that has exited shows no command line while it waits to be reaped. */
const watchdogs = new Set<number>();

export function isWatchdog(pid: number): boolean {
  if (watchdogs.has(pid)) return true;
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(WATCHDOG_NAME)) return false;
  } catch {
    return false;
  }
  watchdogs.add(pid);
  return true;
}

/**
 * The stderr lines of a pool's processes, as a pool option that also makes fixtures announce themselves
 * (`ANNOUNCE=1`): `ready` once a process reads its stdin, and milestones such as slow-head's `waiting`.
 * A test with a short `timeout` gives a process work only once it is ready: a cold start takes 100-150 ms on
 * a quiet machine and ten times that under load, and must never be what times out.
 */
export class StderrLines {
  readonly lines: string[] = [];
  readonly #forward: PoolOptions['stderr'];

  /** @param forward Where lines go besides this list: a callback, or nowhere. */
  constructor(forward?: PoolOptions['stderr']) {
    this.#forward = forward;
  }

  /** The pool options: `env` (extended with ANNOUNCE=1) and a `stderr` callback that collects the lines. */
  options(env: PoolOptions['env'] = {}): Pick<PoolOptions, 'env' | 'stderr'> {
    const forward = this.#forward;
    return {
      env: { ...env, ANNOUNCE: '1' },
      stderr: (line, info) => {
        this.lines.push(line);
        if (typeof forward === 'function') forward(line, info);
      },
    };
  }

  count(line: string): number {
    return this.lines.filter((seen) => seen === line).length;
  }

  /** Wait until `line` has been written `times` times in all. */
  async until(line: string, times = 1): Promise<void> {
    const seen = await waitFor(() => this.count(line) >= times, 10_000);
    expect(seen, `stderr said "${line}" ${this.count(line)} of ${times} times`).toBe(true);
  }

  /** Wait until every process the pool has started so far, replacements included, has said `ready`. */
  async allReady(pool: TransformPool): Promise<void> {
    await this.until('ready', pool.stats().started);
  }
}

/** Children of this process that a transform pool started: everything but vitest's workers and watchdogs. */
export function transformChildren(): ProcInfo[] {
  return listChildren().filter((child) => child.pgrp === child.pid && !isWatchdog(child.pid));
}

/** Serve a fetch handler on 127.0.0.1 with @hono/node-server; returns its base URL and a stop function. */
export async function startServer(
  fetch: (request: Request) => Response | Promise<Response>,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const { serve } = await import('@hono/node-server');
  return new Promise((resolve) => {
    const server = serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        stop: () =>
          new Promise((done) => {
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}

/** The answer's body and the pid of the process that wrote it (fixtures that send X-Pid). */
export async function answerOf(
  pool: TransformPool,
  body: string,
): Promise<{ text: string; pid: string | null }> {
  const response = await pool.transform(new Response(body));
  return { text: await response.text(), pid: response.headers.get('x-pid') };
}

/** A one-process pool whose events are kept, and whose stderr lines are collected (fixtures say `ready`). */
export function createObservedPool(
  command: string[],
  options: Partial<PoolOptions> = {},
): { pool: TransformPool; events: ProcessEvent[]; log: StderrLines } {
  const events: ProcessEvent[] = [];
  const log = new StderrLines();
  const pool = track(
    createTransformPool({
      command,
      processes: 1,
      onEvent: (event) => events.push(event),
      ...options,
      ...log.options(options.env),
    }),
  );
  return { pool, events, log };
}

/** The exit events among `events`. */
export function exitsOf(events: ProcessEvent[]): Extract<ProcessEvent, { type: 'exit' }>[] {
  return events.filter((event) => event.type === 'exit');
}

/** An empty file in a fresh temporary folder, for fixtures that log what they read. */
export function createLogFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'st-log-')), 'log');
  appendFileSync(file, '');
  return file;
}

/** The non-empty lines of a log file. */
export function linesOf(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/** `what`, or 'still waiting' once `ms` pass first: a hang becomes a failure that says what it waited for. */
export function within<T>(what: Promise<T>, ms: number): Promise<T | 'still waiting'> {
  return Promise.race([what, sleep(ms).then(() => 'still waiting' as const)]);
}

/**
 * A raw HTTP/1.1 GET from a client that reads nothing until `readRest()` (its socket is paused before a byte
 * arrives); `readRest` then reads what is left and resolves with the bytes received in all, once it closes.
 */
export function requestWithoutReading(url: string, path: string): { readRest: () => Promise<number> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.pause();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.byteLength;
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(received)));
  return {
    readRest: () => {
      socket.resume();
      return closed;
    },
  };
}

/** A raw HTTP/1.1 GET with `Connection: close`, read to its end: the response's exact bytes, as latin1. */
export function requestWhole(url: string, path: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
  });
}
