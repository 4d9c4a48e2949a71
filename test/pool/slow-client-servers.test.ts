// The slow-client bound over HTTP, under each runtime's own server (@hono/node-server, Bun.serve, Deno.serve
// each read a response body in their own way): two clients that never read must not hold both processes.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { requestWhole, requestWithoutReading, sleep, waitFor, within } from '../_utils.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SERVER = fileURLToPath(new URL('../runtimes/slow-client-server.ts', import.meta.url));
const bin = (name: string) => `${ROOT}node_modules/.bin/${name}`;
const CLIENT_TIMEOUT = 500;
const LARGE = 32 * 1024 * 1024;

const RUNTIMES = [
  { name: '@hono/node-server', argv: [process.execPath, '--import', 'tsx', SERVER] },
  { name: 'Bun.serve', argv: [bin('bun'), SERVER] },
  { name: 'Deno.serve', argv: [bin('deno'), 'run', '-A', '--unstable-no-legacy-abort', SERVER] },
];

const servers: ChildProcess[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.kill('SIGKILL');
});

/** Start the server program; resolves with its base URL once it announced its port. */
async function startServer(argv: string[]): Promise<{ url: string; output: () => string }> {
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, FIXTURE_NODE: process.execPath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.push(child);
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  const announced = () => /"port":(\d+)/.exec(output)?.[1];
  expect(await waitFor(() => announced() !== undefined, 30_000), output).toBe(true);
  return { url: `http://127.0.0.1:${announced()}`, output: () => output };
}

async function statsOf(url: string): Promise<{ busy: number; ok: number; failed: number; aborted: number }> {
  return (await fetch(`${url}/stats`)).json();
}

describe.each(RUNTIMES)('under $name', ({ argv }) => {
  it('two never-reading clients of large answers, with processes: 2, delay a third by at most the bound', async () => {
    const server = await startServer(argv);
    const stuck = [requestWithoutReading(server.url, '/large'), requestWithoutReading(server.url, '/large')];
    let busy = 0;
    const held = async () => {
      busy = (await statsOf(server.url)).busy;
      return busy === 2;
    };
    for (let tries = 0; tries < 200 && !(await held()); tries++) await sleep(50);
    expect(busy, server.output()).toBe(2);
    const started = performance.now();
    const answer = await within(requestWhole(server.url, '/small'), 20 * CLIENT_TIMEOUT);
    const waited = performance.now() - started;
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n(5\r\n)?small(\r\n0\r\n\r\n)?$/);
    // At most the bound, with a 10x margin for a loaded machine (without the bound: no answer at all).
    expect(waited).toBeLessThan(10 * CLIENT_TIMEOUT);
    let stats = await statsOf(server.url);
    for (let tries = 0; tries < 200 && stats.aborted < 2; tries++) {
      await sleep(50);
      stats = await statsOf(server.url);
    }
    expect(stats).toMatchObject({ ok: 1, failed: 0, aborted: 2 });
    // The ended responses never look complete to their clients.
    const received = await within(Promise.all(stuck.map(({ readRest }) => readRest())), 20_000);
    expect(received).not.toBe('still waiting');
    for (const bytes of received as number[]) expect(bytes).toBeLessThan(LARGE);
  });
});
