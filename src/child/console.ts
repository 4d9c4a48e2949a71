// Loaded first by `subprocess-transform/child`. In a process a pool started, stdout carries only the protocol
// from the moment the transform imports the package: a log (or a process.stdout.write) while the transform's
// own modules load, before serveTransform() is called, would otherwise reach the parent as the first bytes of
// an answer. Any other
// program that imports the package keeps its console until it calls serveTransform() on stdout.
import { Console } from 'node:console';
import { isStartedByPool } from '../wire/child-marker.ts';

const TO_STDOUT = [
  'log',
  'info',
  'debug',
  'dir',
  'dirxml',
  'table',
  'group',
  'groupCollapsed',
  'count',
  'time',
  'timeLog',
  'timeEnd',
] as const;

let routed = false;

/** Send `console.log` and friends to stderr: stdout carries the protocol, and one stray line would corrupt it. */
export function routeConsoleToStderr(): void {
  if (routed) return;
  routed = true;
  const toStderr = new Console({ stdout: process.stderr, stderr: process.stderr });
  const target = console as unknown as Record<string, unknown>;
  const source = toStderr as unknown as Record<string, (...args: unknown[]) => void>;
  for (const method of TO_STDOUT) {
    const replacement = source[method];
    if (typeof replacement === 'function') target[method] = replacement.bind(toStderr);
  }
}

let stdoutGuarded = false;
/** Protocol writes under way (see {@link writeProtocol}). */
let protocolWrites = 0;

/** Run `write` as the protocol's own write to stdout: the guard lets it through. */
export function writeProtocol<T>(write: () => T): T {
  protocolWrites++;
  try {
    return write();
  } finally {
    protocolWrites--;
  }
}

/**
 * Send `process.stdout.write` calls from any code but the protocol's own to stderr: a stray write (a
 * library's progress line, a debug dump) would otherwise reach the parent as bytes of an answer.
 */
export function guardStdout(): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  const stdout = process.stdout;
  const stderr = process.stderr;
  const own = stdout.write;
  stdout.write = function write(...args: unknown[]): boolean {
    if (protocolWrites > 0) return (own as (...rest: unknown[]) => boolean).apply(stdout, args);
    return (stderr.write as (...rest: unknown[]) => boolean).apply(stderr, args);
  } as typeof stdout.write;
}

if (isStartedByPool()) {
  routeConsoleToStderr();
  guardStdout();
}
