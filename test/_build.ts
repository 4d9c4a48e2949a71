// Vitest global setup: fixtures import the built package by its name (`subprocess-transform/child`), and
// the CLI tests run the built bin, so `npx vitest run` builds dist/ from the current src/ once, first.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

/** Build dist/ with tsconfig.build.json; a failed build stops the run with the compiler's output. */
export default function buildPackage(): void {
  const result = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (result.error !== undefined || result.status !== 0) {
    const how = result.error?.message ?? `exit code ${result.status ?? result.signal}`;
    throw new Error(
      `Building dist/ before the tests failed (${how}):\n${result.stdout ?? ''}${result.stderr ?? ''}`,
    );
  }
}
