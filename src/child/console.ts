// Loaded first by `subprocess-transform/child`. In a process a pool started, stdout carries only the protocol
// from the moment the transform imports the package: a log while the transform's own modules load, before
// serveTransform() is called, would otherwise reach the parent as the first bytes of an answer. Any other
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

if (isStartedByPool()) routeConsoleToStderr();
