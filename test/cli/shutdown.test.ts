// SIGTERM with a request in flight: the proxy stops taking connections, lets the response finish within
// --shutdown-timeout, cuts it past that, and its access line says which; then the transforms go and it exits 0.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kill, type Running, sendRaw, startProxy, startPython, transformsOf } from '../_cli.ts';
import { exists, fixture, waitFor, within } from '../_utils.ts';

let python: Running & { url: string };
const proxies: Running[] = [];
const directory = mkdtempSync(join(tmpdir(), 'subprocess-transform-shutdown-'));

beforeAll(async () => {
  python = await startPython();
});

afterAll(async () => {
  for (const proxy of proxies) await kill(proxy);
  await kill(python);
  rmSync(directory, { recursive: true, force: true });
});

/** The access lines of `stdout`, their milliseconds as `Nms`. */
function accessLog(stdout: string): string[] {
  return [...stdout.matchAll(/^(?:GET|PUT) \S+ \d{3} \d+ \d+ms \w+$/gm)].map((line) =>
    line[0].replace(/ \d+ms /, ' Nms '),
  );
}

async function start(args: string[]): Promise<Running & { url: string }> {
  const proxy = await startProxy(['--upstream', python.url, '--log', '--processes', '1', ...args]);
  proxies.push(proxy);
  return proxy;
}

const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

describe('the proxy on SIGTERM', () => {
  it('lets a request in flight finish, logs it as sent, and exits 0 with no transform left', async () => {
    const proxy = await start([
      '--content-type',
      'application/json',
      '--',
      process.execPath,
      fixture('upper.mjs'),
    ]);
    const pid = proxy.child.pid as number;
    const file = join(directory, 'release');
    const waiting = python.stdout().split('waiting').length;
    const path = `/wait?file=${encodeURIComponent(file)}`;
    const answer = sendRaw(proxy.url, request(path));
    // The upstream holds the request until the file exists: it is in flight when the signal comes.
    expect(await waitFor(() => python.stdout().split('waiting').length > waiting, 10_000)).toBe(true);
    const transforms = transformsOf(pid);
    proxy.child.kill('SIGTERM');
    expect(await waitFor(() => proxy.stderr().includes('SIGTERM, shutting down'), 10_000)).toBe(true);
    writeFileSync(file, '');
    const response = await answer;
    expect([response.status, response.body]).toEqual([200, '{"WAITED":"YES"}']);
    expect(await within(proxy.exited, 30_000)).toBe(0);
    expect(accessLog(proxy.stdout())).toEqual([`GET ${path} 200 16 Nms transformed`]);
    expect(await waitFor(() => transforms.every((child) => !exists(child)), 10_000)).toBe(true);
    expect(existsSync(file)).toBe(true);
  });

  it('cuts a request still in flight past --shutdown-timeout: the client gets nothing, the line says 000 shutdown', async () => {
    const proxy = await start([
      '--shutdown-timeout',
      '300',
      '--',
      process.execPath,
      fixture('slow-render.mjs'),
    ]);
    const answer = sendRaw(proxy.url, request('/json'));
    // slow-render takes 60 s: the response is still pending when the bound runs out.
    expect(await waitFor(() => proxy.stderr().includes('rendering'), 10_000)).toBe(true);
    proxy.child.kill('SIGTERM');
    const response = await within(answer, 30_000);
    expect(response).toEqual({ status: Number.NaN, headers: [], body: '' });
    expect(await within(proxy.exited, 30_000)).toBe(0);
    expect(accessLog(proxy.stdout())).toEqual(['GET /json 000 0 Nms shutdown']);
  });
});
