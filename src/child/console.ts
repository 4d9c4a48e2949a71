// Loaded first by `subprocess-transform/child`, for its side effect: from the moment a transform imports the
// package, stdout carries only the protocol. A log while the transform's own modules load, before
// serveTransform() is called, would otherwise reach the parent as the first bytes of an answer.
import { Console } from 'node:console';

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

/** Send `console.log` and friends to stderr: stdout carries the protocol, and one stray line would corrupt it. */
function routeConsoleToStderr(): void {
  const toStderr = new Console({ stdout: process.stderr, stderr: process.stderr });
  const target = console as unknown as Record<string, unknown>;
  const source = toStderr as unknown as Record<string, (...args: unknown[]) => void>;
  for (const method of TO_STDOUT) {
    const replacement = source[method];
    if (typeof replacement === 'function') target[method] = replacement.bind(toStderr);
  }
}

routeConsoleToStderr();
