// A transform you do not trust: it gets none of the server's environment, and may run as another user.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTransformPool, type PoolOptions, type TransformPool } from '../src/index.ts';
import { fixture, nodeFixture, track } from './_utils.ts';

function createPool(options: PoolOptions): TransformPool {
  return track(createTransformPool({ stderr: 'ignore', processes: 1, ...options }));
}

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

  it('extendEnv: false passes only env', async () => {
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
