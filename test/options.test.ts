// Options are checked when the pool is made, with a TypeError or RangeError naming the option, and a bad one
// starts nothing (no transform process, no watchdog).
import { describe, expect, it } from 'vitest';
import { createTransformPool, type PoolOptions } from '../src/index.ts';
import { listChildren, track } from './_utils.ts';

function refusal(options: Record<string, unknown>): unknown {
  try {
    track(createTransformPool({ command: 'cat', processes: 1, ...options } as PoolOptions));
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('pool options', () => {
  it.each([
    [{ decode: 'no' }, TypeError, /`decode` to be a boolean, got string/],
    [{ preserveValidators: 1 }, TypeError, /`preserveValidators` to be a boolean, got number/],
    [{ requireRequestId: 'yes' }, TypeError, /`requireRequestId` to be a boolean/],
    [{ extendEnv: 0 }, TypeError, /`extendEnv` to be a boolean/],
    [{ env: 'A=1' }, TypeError, /`env` to be an object of strings, got string/],
    [{ env: null }, TypeError, /`env` to be an object of strings, got null/],
    [{ env: { A: 1 } }, TypeError, /`env.A` to be a string, got number/],
    [{ cwd: 5 }, TypeError, /`cwd` to be a string, got number/],
    [{ timeout: null }, TypeError, /`timeout` to be a number, got null/],
    [{ timeout: Number.NaN }, TypeError, /`timeout` to be a number, got NaN/],
    [{ startTimeout: -1 }, RangeError, /`startTimeout` to be a non-negative integer/],
    [{ uid: 2 ** 32 }, RangeError, /`uid` to be an integer from 0 to 4294967294/],
    [{ gid: -1 }, RangeError, /`gid` to be an integer from 0 to/],
    [{ processes: Number.NaN }, TypeError, /`processes` to be a number, got NaN/],
    [{ onEvent: 'log' }, TypeError, /`onEvent` to be a function, got string/],
  ])('refuses %o', (options, type, message) => {
    const before = listChildren().length;
    const error = refusal(options);
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
    // Refused before anything started: no transform, no watchdog.
    expect(listChildren().length).toBe(before);
  });

  it('names the working directory when the command cannot start in it', async () => {
    const pool = track(createTransformPool({ command: 'cat', processes: 1, cwd: '/nonexistent-dir' }));
    const error = await pool.transform(new Response('x')).then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_SPAWN' });
    expect(error?.message).toMatch(/could not be started: .*ENOENT.*cwd "\/nonexistent-dir"/);
  });
});
