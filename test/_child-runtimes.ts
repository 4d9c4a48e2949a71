// The runtimes a serveTransform child runs under, each as the argv prefix that runs a fixture with it.
import { fileURLToPath } from 'node:url';

const bin = (name: string): string => fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));

export const CHILD_RUNTIMES = [
  { runtime: 'node', argv: [process.execPath] },
  { runtime: 'bun', argv: [bin('bun')] },
  { runtime: 'deno', argv: [bin('deno'), 'run', '-A'] },
] as const;
