// The same app served by Node, Bun and Deno, each with transform children under its own runtime and with a
// Python transform, driven over real HTTP on 127.0.0.1.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { isRunning, listProcesses, type ProcInfo, waitFor } from '../_utils.ts';
import type { RuntimeName } from './app.ts';
import { pseudoRandomChunks } from './body.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const program = (name: string) => join(ROOT, 'test', 'runtimes', name);
const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);
const packageVersion = (name: string) =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
    .version;

/** The version each runtime must report: this Node, and the bun and deno packages installed. */
const VERSIONS: Record<RuntimeName, string> = {
  node: process.versions.node,
  bun: packageVersion('bun'),
  deno: packageVersion('deno'),
};

interface ServerVariant {
  name: string;
  runtime: RuntimeName;
  argv: string[];
}

/** One entry per way of serving the app; a new Node variant (another server file) is one more entry. */
const SERVERS: ServerVariant[] = [
  {
    name: 'Node, @hono/node-server with withTransform',
    runtime: 'node',
    argv: [process.execPath, '--import', 'tsx', program('node-server.ts')],
  },
  {
    name: 'Node, @hono/node-server with the Hono middleware',
    runtime: 'node',
    argv: [process.execPath, '--import', 'tsx', program('node-hono-server.ts')],
  },
  { name: 'Bun.serve', runtime: 'bun', argv: [bin('bun'), program('bun-server.ts')] },
  {
    name: 'Deno.serve',
    runtime: 'deno',
    argv: [bin('deno'), 'run', '-A', '--unstable-no-legacy-abort', program('deno-server.ts')],
  },
];

/** The transforms: a serveTransform child under the server's own runtime, and a Python program. */
const TRANSFORMS = [
  { kind: 'runtime', transformedBy: (runtime: RuntimeName) => `${runtime} ${VERSIONS[runtime]}` },
  { kind: 'python', transformedBy: () => expect.stringMatching(/^python 3\.\d+\.\d+$/) },
] as const;

const LEGACY_ABORT_WARNING = /legacy behavior|unstable-no-legacy-abort/;
const STREAM_BYTES = 10 * 1024 * 1024;
const expectedDigest = (() => {
  const hash = createHash('sha256');
  for (const chunk of pseudoRandomChunks(STREAM_BYTES)) hash.update(chunk);
  return hash.digest('hex');
})();

interface Announcement {
  port: number;
  runtime: RuntimeName;
  version: string;
  pid: number;
}

/** A server program, started and announced. */
class ServerProcess {
  stdout = '';
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly child: ChildProcess;
  readonly ready: Promise<Announcement>;

  constructor(argv: string[], env: Record<string, string>) {
    this.child = spawn(argv[0] as string, argv.slice(1), {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.stderr += text;
    });
    this.child.on('exit', (code, signal) => {
      this.exit = { code, signal };
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.stdout?.setEncoding('utf8').on('data', (text: string) => {
        this.stdout += text;
        const newline = this.stdout.indexOf('\n');
        if (newline !== -1) resolve(JSON.parse(this.stdout.slice(0, newline)) as Announcement);
      });
      this.child.on('error', reject);
      this.child.on('exit', (code, signal) =>
        reject(new Error(`the server exited (${code ?? signal}) before it listened:\n${this.stderr}`)),
      );
    });
  }

  /** Its descendants as /proc shows them now: the transform processes, the watchdog, anything else. */
  descendants(): ProcInfo[] {
    const all = listProcesses();
    const found: ProcInfo[] = [];
    const parents = new Set([this.child.pid]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const info of all) {
        if (parents.has(info.ppid) && !parents.has(info.pid)) {
          parents.add(info.pid);
          found.push(info);
          grew = true;
        }
      }
    }
    return found;
  }

  kill(): void {
    if (this.exit === undefined) this.child.kill('SIGKILL');
  }
}

const isWatchdog = (info: ProcInfo) => info.argv.includes('subprocess-transform-watchdog');

interface Fetched {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** GET over a fresh connection. */
function get(url: string): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks),
          }),
        );
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

/** GET, hashing the body as it streams in. */
function getDigest(
  url: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; bytes: number; digest: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (response) => {
        const hash = createHash('sha256');
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          hash.update(chunk);
        });
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            bytes,
            digest: hash.digest('hex'),
          }),
        );
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

/** GET, read at least `bytes` of the body, then drop the connection; resolves with the bytes read. */
function getAndLeave(url: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read >= bytes) {
          request.destroy();
          resolve(read);
        }
      });
      response.on('end', () =>
        reject(new Error(`the whole body (${read} bytes) came before the client left`)),
      );
    });
    request.on('error', (error) => {
      if (!request.destroyed) reject(error);
    });
  });
}

for (const variant of SERVERS) {
  for (const transform of TRANSFORMS) {
    describe(`${variant.name}, ${transform.kind === 'python' ? 'a Python' : `a ${variant.runtime}`} transform`, () => {
      let server: ServerProcess;
      let base: string;
      const transformedBy = transform.transformedBy(variant.runtime);

      beforeAll(async () => {
        server = new ServerProcess(variant.argv, { TRANSFORM: transform.kind });
        const announced = await server.ready;
        base = `http://127.0.0.1:${announced.port}`;
      }, 60_000);

      afterAll(() => server.kill());

      it(`runs under ${variant.runtime}, and transforms text`, async () => {
        const info = await get(`${base}/info`);
        expect(info.status).toBe(200);
        // JSON is not selected: it comes back as the app made it.
        expect(info.headers['x-transform']).toBeUndefined();
        expect(JSON.parse(info.body.toString())).toEqual({
          runtime: variant.runtime,
          version: VERSIONS[variant.runtime],
          pid: server.child.pid,
        });
        const text = await get(`${base}/text`);
        expect(text.status).toBe(200);
        expect(text.headers['x-transform']).toEqual(transformedBy);
        expect(text.body.toString()).toBe(`HELLO FROM ${variant.runtime.toUpperCase()}`);
      });

      it('streams a 10 MiB body through intact', async () => {
        const result = await getDigest(`${base}/bytes?size=${STREAM_BYTES}`);
        expect(result).toMatchObject({ status: 200, bytes: STREAM_BYTES, digest: expectedDigest });
        expect(result.headers['x-transform']).toEqual(transformedBy);
      });

      it('stays healthy after a client leaves mid-stream', async () => {
        // 64 MiB: far more than the socket buffers hold, so the server is still sending when the client leaves.
        expect(await getAndLeave(`${base}/bytes?size=${64 * 1024 * 1024}`, 1024 * 1024)).toBeGreaterThan(0);
        // More requests than processes: every process in the pool, kept or replaced, answers.
        for (let round = 0; round < 4; round++) {
          const text = await get(`${base}/text`);
          expect(text.status).toBe(200);
          expect(text.body.toString()).toBe(`HELLO FROM ${variant.runtime.toUpperCase()}`);
        }
        const result = await getDigest(`${base}/bytes?size=${STREAM_BYTES}`);
        expect(result).toMatchObject({ status: 200, digest: expectedDigest });
        // A client that left is routine: no protocol error or other line from the pool.
        expect(server.stderr).toBe('');
      });

      it('leaves no process behind on SIGTERM', async () => {
        const before = server.descendants().filter((info) => info.state !== 'Z');
        const watchdogs = before.filter(isWatchdog);
        const transforms = before.filter((info) => info.pgrp === info.pid && !isWatchdog(info));
        expect(watchdogs).toHaveLength(1);
        expect(transforms.length).toBeGreaterThanOrEqual(2);
        const groups = new Set([...watchdogs, ...transforms].map((info) => info.pgrp));

        server.child.kill('SIGTERM');
        // Well under a second on a quiet machine; 10 s allowed.
        expect(await waitFor(() => server.exit !== undefined, 10_000)).toBe(true);
        expect(server.exit, server.stderr).toEqual({ code: 0, signal: null });
        const leftovers = () =>
          listProcesses().filter(
            (info) =>
              info.state !== 'Z' && (before.some(({ pid }) => pid === info.pid) || groups.has(info.pgrp)),
          );
        await waitFor(() => leftovers().length === 0, 10_000);
        expect(leftovers()).toEqual([]);
        expect(before.every(({ pid }) => !isRunning(pid))).toBe(true);
        expect(server.stdout).toMatch(/^stopped$/m);
        expect(server.stderr).toBe('');
      });
    });
  }
}

describe('the Bun server program', () => {
  // @types/bun does not fit src/ in one program, so tsconfig.json leaves this file to its own config.
  it('type-checks against @types/bun', () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = spawnSync(process.execPath, [tsc, '-p', program('tsconfig.bun.json')], {
      encoding: 'utf8',
    });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  }, 60_000);
});

describe('Deno.serve without --unstable-no-legacy-abort', () => {
  it('warns about the legacy request.signal abort: the flag is what keeps the servers above quiet', async () => {
    const server = new ServerProcess([bin('deno'), 'run', '-A', program('deno-server.ts')], {
      TRANSFORM: 'runtime',
    });
    // Killed however the test ends: a `finally` never runs once the test has timed out on an await.
    onTestFinished(() => server.kill());
    const { port } = await server.ready;
    expect((await get(`http://127.0.0.1:${port}/text`)).status).toBe(200);
    expect(await waitFor(() => LEGACY_ABORT_WARNING.test(server.stderr), 10_000)).toBe(true);
    server.child.kill('SIGTERM');
    expect(await waitFor(() => server.exit !== undefined, 10_000)).toBe(true);
  }, 60_000);
});
