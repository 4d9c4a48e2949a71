// Helpers of the CLI tests that run the proxy in front of a real Python upstream.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { fixture, isWatchdog, listProcesses, waitFor } from './_utils.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// The bin as published, built from the current src/ by test/_build.ts: it starts in a few hundred ms where
// tsx took 1.5 s, and the CLI tests start a dozen at once.
const MAIN = 'dist/cli/main.js';
const LISTENING = /^subprocess-transform proxy listening on (http:\/\/\S+) -> (\S+)$/m;

/** A running child process with its output collected. */
export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(command: string, args: string[]): Running {
  const child = spawn(command, args, { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/**
 * Run the built CLI with `args`; stdout and stderr are collected. `runtime`: the command line that runs a script
 * (`['bun']`, `['deno', 'run', '-A']`), the runtime of this test run unless given.
 */
export function runCli(args: string[], runtime: readonly string[] = [process.execPath]): Running {
  const [command = process.execPath, ...options] = runtime;
  return run(command, [...options, MAIN, ...args]);
}

/** The Python standard-library upstream of test/fixtures/upstream.py, on 127.0.0.1 and a free port. */
export async function startPython(): Promise<Running & { url: string }> {
  const python = run('python3', [fixture('upstream.py')]);
  if (!(await waitFor(() => /listening \d+/.test(python.stdout()), 15_000))) {
    python.child.kill('SIGKILL');
    throw new Error(`The Python upstream did not start:\n${python.stderr()}`);
  }
  const port = /listening (\d+)/.exec(python.stdout())?.[1];
  return { ...python, url: `http://127.0.0.1:${port}` };
}

/** Run `subprocess-transform proxy --port 0 ARGS` (on `runtime`, as {@link runCli}) and wait for its listening line. */
export async function startProxy(
  args: string[],
  runtime?: readonly string[],
): Promise<Running & { url: string }> {
  const proxy = runCli(['proxy', '--port', '0', ...args], runtime);
  if (!(await waitFor(() => LISTENING.test(proxy.stdout()), 15_000))) {
    proxy.child.kill('SIGKILL');
    throw new Error(`The CLI did not start:\n${proxy.stdout()}\n${proxy.stderr()}`);
  }
  return { ...proxy, url: (LISTENING.exec(proxy.stdout()) as RegExpExecArray)[1] as string };
}

/** Stop a child with SIGKILL unless it already exited. */
export async function kill(running: Running | undefined): Promise<void> {
  if (running === undefined || running.child.exitCode !== null || running.child.signalCode !== null) return;
  running.child.kill('SIGKILL');
  await running.exited;
}

/** Transform processes of the CLI `pid`: its children that lead their own process group, less the watchdog. */
export function transformsOf(pid: number): number[] {
  return listProcesses()
    .filter((info) => info.ppid === pid && info.pgrp === info.pid && !isWatchdog(info.pid))
    .map((info) => info.pid);
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM). */
export function readMemory(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
  if (kib === undefined) throw new Error(`No ${field} for pid ${pid}`);
  return Number(kib) * 1024;
}

/** A raw HTTP response, its chunked body decoded. */
export interface RawResponse {
  status: number;
  /** Every field but Date, names lower-cased, sorted. */
  headers: string[];
  body: string;
}

function decodeChunked(bytes: Buffer): string {
  let body = '';
  let at = 0;
  for (;;) {
    const end = bytes.indexOf('\r\n', at);
    const size = Number.parseInt(bytes.subarray(at, end).toString('latin1'), 16);
    if (!(size > 0)) return body;
    body += bytes.subarray(end + 2, end + 2 + size).toString('latin1');
    at = end + 2 + size + 2;
  }
}

function parseRaw(bytes: Buffer): RawResponse {
  const headEnd = bytes.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = bytes.subarray(0, headEnd).toString('latin1').split('\r\n');
  const headers = lines
    .map((line) => line.replace(/^[^:]+/, (name) => name.toLowerCase()))
    .filter((line) => !line.startsWith('date:'))
    .sort();
  const rest = bytes.subarray(headEnd + 4);
  const body = headers.includes('transfer-encoding: chunked') ? decodeChunked(rest) : rest.toString('latin1');
  return { status: Number(statusLine?.split(' ')[1]), headers, body };
}

/**
 * Send `bytes` to the proxy on a fresh connection and read its answer to the end: every request here says
 * `Connection: close`, so the proxy closes once it has answered.
 */
export async function sendRaw(url: string, bytes: string): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // write, not end: a half-closed client counts as gone for the proxy's server, which then answers nothing.
  socket.write(bytes, 'latin1');
  await once(socket, 'close');
  return parseRaw(Buffer.concat(chunks));
}
