// A transform you do not trust: it gets none of the server's environment, may run as another user, and a
// process it starts in a session of its own is contained by a PID namespace.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTransformPool, type TransformPool } from '../../src/index.ts';
import { createPool, fixture, isRunning, nodeFixture, readProcess, track, waitFor } from '../_utils.ts';

async function readJson<T>(pool: TransformPool): Promise<T> {
  const response = await pool.transform(new Response('what do you see'));
  return JSON.parse(await response.text()) as T;
}

describe('environment', () => {
  beforeEach(() => {
    process.env.SECRET_TOKEN = 'server-secret';
  });
  afterEach(() => {
    delete process.env.SECRET_TOKEN;
  });

  it('extendEnv: false passes only env, and the marker every transform gets', async () => {
    const pool = createPool({
      command: nodeFixture('echo-env-all.mjs'),
      env: { ONLY: '1' },
      extendEnv: false,
    });
    const env = await readJson<Record<string, string>>(pool);
    expect(env.ONLY).toBe('1');
    expect(env.SECRET_TOKEN).toBeUndefined();
    // Not one of the server's variables, PATH and HOME included.
    expect(Object.keys(env).filter((name) => name !== 'ONLY' && name in process.env)).toEqual([]);
    expect(env.SUBPROCESS_TRANSFORM_CHILD).toBe('1');
  });

  it("by default env extends the parent's environment", async () => {
    const pool = createPool({ command: nodeFixture('echo-env-all.mjs'), env: { ONLY: '1' } });
    const env = await readJson<Record<string, string>>(pool);
    expect(env.ONLY).toBe('1');
    expect(env.SECRET_TOKEN).toBe('server-secret');
    expect(env.PATH).toBe(process.env.PATH);
  });
});

describe('user and group', () => {
  const root = process.getuid?.() === 0;

  it.skipIf(!root)('uid and gid run the transform as another user', async () => {
    const pool = createPool({ command: nodeFixture('echo-user.mjs'), uid: 65534, gid: 65534 });
    expect(await readJson(pool)).toEqual({ uid: 65534, gid: 65534 });
  });

  it("without uid and gid it runs as the parent's user", async () => {
    const pool = createPool({ command: nodeFixture('echo-user.mjs') });
    expect(await readJson(pool)).toEqual({ uid: process.getuid?.(), gid: process.getgid?.() });
  });
});

/** Node 24's V8 reserves more than 512 MiB of data at start (it dies of SIGTRAP under less); Node 20 needs less. */
const DATA_LIMIT = `--data=${1024 * 1024 * 1024}`;

describe('resource limits', () => {
  it('a transform under prlimit serves, and one that outgrows its memory limit fails alone and is replaced', async () => {
    const pool = createPool({
      command: ['prlimit', DATA_LIMIT, '--', process.execPath, fixture('echo-user.mjs')],
      processes: 1,
    });
    expect(await readJson(pool)).toEqual({ uid: process.getuid?.(), gid: process.getgid?.() });
    const hungry = createPool({
      command: ['prlimit', DATA_LIMIT, '--', process.execPath, fixture('allocate.mjs')],
      processes: 1,
    });
    const error = await hungry.transform(new Response('grow')).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_EXIT' });
    const small = await hungry.transform(new Response('small'));
    expect(await small.text()).toBe('small');
  });
});

describe('a grandchild that leaves its process group (setsid)', () => {
  /** No process may outlive its killer by this much: a second on a quiet machine. */
  const GONE_WITHIN_MS = 10_000;
  /** The recipes the README gives, each the prefix of a transform's command. */
  const RECIPES = [
    { name: 'bwrap', prefix: ['bwrap', '--die-with-parent', '--unshare-pid', '--dev-bind', '/', '/', '--'] },
    { name: 'unshare', prefix: ['unshare', '--pid', '--fork', '--kill-child', '--'] },
    {
      name: 'unshare in a user namespace',
      prefix: ['unshare', '--user', '--map-root-user', '--pid', '--fork', '--kill-child', '--'],
    },
  ];
  /** Whether a recipe runs here: the tool is installed and this user may make a PID namespace. */
  const runs = (prefix: string[]): boolean =>
    spawnSync(prefix[0] as string, [...prefix.slice(1), 'true'], { stdio: 'ignore' }).status === 0;
  const GRANDCHILD_ARGV = ['sleep', '300.013'];

  interface Pids {
    transform: number;
    grandchild: number;
  }

  let directory: string;
  let started: Pids | undefined;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'st-setsid-'));
    started = undefined;
  });
  afterEach(() => {
    // The test owns the grandchild it made escape: kill it if it is still there, and only if it is ours.
    const grandchild = started === undefined ? undefined : readProcess(started.grandchild);
    if (grandchild !== undefined && grandchild.argv.join(' ') === GRANDCHILD_ARGV.join(' ')) {
      process.kill(grandchild.pid, 'SIGKILL');
    }
    rmSync(directory, { recursive: true, force: true });
  });

  /** The pids the fixture wrote once its grandchild had started, and a check that it left the group. */
  async function readPids(file: string): Promise<Pids> {
    expect(await waitFor(() => existsSync(file), GONE_WITHIN_MS)).toBe(true);
    started = JSON.parse(readFileSync(file, 'utf8')) as Pids;
    const grandchild = readProcess(started.grandchild);
    expect(grandchild?.argv).toEqual(GRANDCHILD_ARGV);
    // It leads a group of its own, so no signal to the transform's group reaches it.
    expect(grandchild?.pgrp).toBe(started.grandchild);
    expect(readProcess(started.transform)?.pgrp).not.toBe(started.grandchild);
    return started;
  }

  /** Start a pool of the fixture behind `prefix`, answer once, then end it by close(); the pids. */
  async function endByClose(prefix: string[]): Promise<Pids> {
    const file = join(directory, 'pids.json');
    const pool = track(
      createTransformPool({
        command: [...prefix, ...nodeFixture('setsid-grandchild.mjs')],
        processes: 1,
        env: { PIDS_FILE: file },
        stderr: 'ignore',
      }),
    );
    expect(await (await pool.transform(new Response('through'))).text()).toBe('through');
    const pids = await readPids(file);
    await pool.close();
    return pids;
  }

  /** Start a server process with a pool of the fixture behind `prefix`, then SIGKILL it; the pids. */
  async function endByParentKill(prefix: string[]): Promise<Pids> {
    const file = join(directory, 'pids.json');
    const command = [...prefix, ...nodeFixture('setsid-grandchild.mjs')];
    const parent = execa(process.execPath, [fixture('contained-parent.mjs'), JSON.stringify(command)], {
      env: { PIDS_FILE: file },
      reject: false,
    });
    try {
      const ready = await new Promise<string>((resolve, reject) => {
        parent.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
        parent.once('exit', (code) => reject(new Error(`The server exited (${code}) before it answered`)));
      });
      expect(ready).toBe('ready');
      const pids = await readPids(file);
      parent.kill('SIGKILL');
      await parent;
      return pids;
    } finally {
      parent.kill('SIGKILL');
    }
  }

  it('is contained by exactly the recipes the README gives', () => {
    const root = new URL('../..', import.meta.url);
    const docs = existsSync(new URL('docs', root))
      ? readdirSync(new URL('docs', root)).filter((name) => name.endsWith('.md'))
      : [];
    const text = ['README.md', ...docs.map((name) => `docs/${name}`)]
      .map((path) => readFileSync(new URL(path, root), 'utf8'))
      .join('\n');
    for (const { prefix } of RECIPES) {
      const argv = [...prefix, 'node', 'render.js'].map((arg) => `'${arg}'`).join(', ');
      expect(text).toContain(`command: [${argv}]`);
    }
  });

  const endings = [
    { how: 'close()', end: endByClose },
    { how: "SIGKILL of the server's process", end: endByParentKill },
  ];

  for (const { how, end } of endings) {
    it(`escapes ${how} without containment: the documented limit of process groups`, async () => {
      const pids = await end([]);
      // The transform's group is gone ...
      expect(await waitFor(() => !isRunning(pids.transform), GONE_WITHIN_MS)).toBe(true);
      // ... and the grandchild in its own session is not (afterEach kills it).
      expect(isRunning(pids.grandchild)).toBe(true);
    });

    for (const { name, prefix } of RECIPES) {
      it.skipIf(!runs(prefix))(`is gone after ${how} when the transform runs under ${name}`, async () => {
        const pids = await end(prefix);
        const gone = () => !isRunning(pids.grandchild) && !isRunning(pids.transform);
        expect(await waitFor(gone, GONE_WITHIN_MS)).toBe(true);
      });
    }
  }
});
