// A transform's output belongs to the message it answers and to no other: duplicate, early and guessed
// answers, spoofed context fields, slow starts, and the bounds of the pool's options.
import { describe, expect, it } from 'vitest';
import { createTransformPool, type PoolOptions, type TransformPool } from '../../src/index.ts';
import { createPool, nodeFixture, outcomeOf } from '../_utils.ts';

/** The error a transform rejects with, or a description of its answer when it does not reject. */
async function errorOf(promise: Promise<Response>): Promise<{ code?: string; message?: string } | string> {
  try {
    const response = await promise;
    return `answered ${response.status}: ${await response.text()}`;
  } catch (error) {
    return error as { code?: string; message?: string };
  }
}

/** Resolves to `fallback` if `promise` has not settled within `ms`: a hang reads as a failed assertion. */
function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

describe('duplicate answers never reach another request', () => {
  it('a late second answer with the same id fails the next transform or is dropped, never delivered', async () => {
    const pool = createPool({ command: nodeFixture('late-duplicate.mjs'), processes: 1 });
    const outcomes: string[] = [];
    for (let pair = 0; pair < 50; pair++) {
      // The delay sweeps 0 to 20 ms, so the duplicate lands before, during and after the next message.
      const delay = pair % 21;
      const first = await outcomeOf(pool.transform(new Response(`a${pair}:${delay}`)));
      const second = await outcomeOf(pool.transform(new Response(`b${pair}:none`)));
      expect(first).toMatch(new RegExp(`^(echo a${pair}|rejected ERR_TRANSFORM_PROTOCOL)$`));
      expect(second).toMatch(new RegExp(`^(echo b${pair}|rejected ERR_TRANSFORM_PROTOCOL)$`));
      outcomes.push(first, second);
    }
    expect(outcomes).toHaveLength(100);
    // Refusing everything would also deliver nothing wrong: most transforms must still succeed.
    expect(outcomes.filter((outcome) => outcome.startsWith('echo')).length).toBeGreaterThanOrEqual(50);
  }, 120_000);

  it('with 16 transforms queued on one process, a late duplicate never answers a queued one', async () => {
    const pool = createPool({ command: nodeFixture('late-duplicate.mjs'), processes: 1 });
    for (let round = 0; round < 3; round++) {
      const tokens = Array.from({ length: 16 }, (_, index) => `q${round}x${index}`);
      const outcomes = await Promise.all(
        tokens.map((token, index) => outcomeOf(pool.transform(new Response(`${token}:${(index * 7) % 21}`)))),
      );
      expect(outcomes).toHaveLength(16);
      outcomes.forEach((outcome, index) => {
        expect(outcome).toMatch(new RegExp(`^(echo ${tokens[index]}|rejected ERR_TRANSFORM_PROTOCOL)$`));
      });
      expect(outcomes.some((outcome) => outcome.startsWith('echo'))).toBe(true);
    }
  }, 120_000);

  it('an answer written before its message was read, under a guessed id, fails that transform', async () => {
    const pool = createPool({ command: nodeFixture('guess-next-id.mjs'), processes: 1 });
    for (let round = 0; round < 5; round++) {
      expect(await outcomeOf(pool.transform(new Response('guess')))).toBe('echo guess');
      // The process wrote "forged" the moment this message began to arrive, before it could read the id: it
      // is killed, and the message fails or (the forged id being the last message's) runs on a fresh process.
      const outcome = await outcomeOf(pool.transform(new Response('plain')));
      expect(['echo plain', 'rejected ERR_TRANSFORM_PROTOCOL']).toContain(outcome);
    }
    expect(pool.stats().started).toBe(6);
  }, 60_000);

  it('request ids are random per message, not a counter', async () => {
    const pool = createPool({ command: nodeFixture('echo-id.mjs'), processes: 1 });
    const ids: string[] = [];
    for (let index = 0; index < 8; index++) ids.push(await outcomeOf(pool.transform(new Response('id'))));
    expect(ids).toHaveLength(8);
    expect(new Set(ids).size).toBe(8);
    for (const id of ids) {
      expect(id).not.toMatch(/^rejected /);
      // 16 characters of a token alphabet: far beyond guessing, whatever the encoding.
      expect(id.length).toBeGreaterThanOrEqual(16);
    }
    for (let index = 1; index < ids.length; index++) {
      const [before, after] = [ids[index - 1] as string, ids[index] as string];
      const counting = /^\d+$/.test(before) && /^\d+$/.test(after) && BigInt(after) - BigInt(before) === 1n;
      expect(counting, `${before} then ${after}`).toBe(false);
    }
  });

  it('by default a transform that never echoes Transform-Request-Id fails, saying to copy the header', async () => {
    const pool = createPool({ command: nodeFixture('no-request-id.mjs'), processes: 1 });
    const error = await errorOf(pool.transform(new Response('hello')));
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_PROTOCOL' });
    const message = typeof error === 'string' ? error : (error.message ?? '');
    expect(message).toMatch(/Transform-Request-Id/i);
    expect(message).toMatch(/cop(y|ies)/i);
  });

  it('requireRequestId: false accepts a transform that never echoes the id, and still rejects a wrong one', async () => {
    const silent = createPool({
      command: nodeFixture('no-request-id.mjs'),
      processes: 1,
      requireRequestId: false,
    });
    expect(await outcomeOf(silent.transform(new Response('hello')))).toBe('hello');
    expect(await outcomeOf(silent.transform(new Response('again')))).toBe('again');
    const wrong = createPool({ command: nodeFixture('wrong-id.mjs'), processes: 1, requireRequestId: false });
    expect(await outcomeOf(wrong.transform(new Response('right')))).toBe('right');
    expect(await outcomeOf(wrong.transform(new Response('wrong')))).toBe('rejected ERR_TRANSFORM_PROTOCOL');
  });
});

describe('request context cannot be spoofed', () => {
  const forged = {
    'Transform-Request-Method': 'DELETE',
    'Transform-Request-Id': 'x',
    'Transform-Request-URL': 'http://forged.test/',
    'Transform-Request-Header-Authorization': 'forged',
    'Transform-Foo': 'y',
  };

  /** The `Transform-*` fields the process received, names lowercased, in order. */
  async function transformFieldsSeen(pool: TransformPool, request?: Request): Promise<[string, string][]> {
    const response = await pool.transform(new Response('body', { headers: forged }), { request });
    const fields = JSON.parse(await response.text()) as [string, string][];
    return fields
      .map(([name, value]): [string, string] => [name.toLowerCase(), value])
      .filter(([name]) => name.startsWith('transform-'));
  }

  it("the transform sees the parent's context fields and none of the handler's Transform-* fields", async () => {
    const pool = createPool({
      command: nodeFixture('echo-head.mjs'),
      processes: 1,
      requestContext: ['authorization'],
    });
    const request = new Request('http://real.test/page?q=1', {
      method: 'POST',
      headers: { authorization: 'Bearer real' },
    });
    const fields = await transformFieldsSeen(pool, request);
    const ids = fields.filter(([name]) => name === 'transform-request-id');
    expect(ids).toHaveLength(1);
    expect(ids[0]?.[1]).not.toBe('x');
    expect(fields.filter(([name]) => name !== 'transform-request-id').sort()).toEqual([
      ['transform-request-header-authorization', 'Bearer real'],
      ['transform-request-method', 'POST'],
      ['transform-request-url', 'http://real.test/page?q=1'],
    ]);
  });

  it('without a request, only the id reaches the transform', async () => {
    const pool = createPool({ command: nodeFixture('echo-head.mjs'), processes: 1 });
    const fields = await transformFieldsSeen(pool);
    expect(fields).toHaveLength(1);
    expect(fields[0]?.[0]).toBe('transform-request-id');
    expect(fields[0]?.[1]).not.toBe('x');
  });
});

describe('start-up', () => {
  it('a process that takes 1.5 s to start is not killed by a 1 s timeout', async () => {
    const pool = createPool({ command: nodeFixture('slow-boot.mjs', '1500'), processes: 2, timeout: 1000 });
    const outcomes: string[] = [];
    for (let index = 0; index < 5; index++)
      outcomes.push(await outcomeOf(pool.transform(new Response('pid'))));
    expect(outcomes).toHaveLength(5);
    for (const outcome of outcomes) expect(outcome).toMatch(/^\d+$/);
    expect(pool.stats().started).toBe(2);
  }, 60_000);

  it('startTimeout bounds a first answer that never comes, whatever timeout says', async () => {
    const pool = createPool({
      command: nodeFixture('hang.mjs'),
      processes: 1,
      startTimeout: 2000,
      timeout: 600_000,
    });
    // 25 s is over ten times startTimeout: no answer by then means startTimeout was ignored.
    const error = await within(
      errorOf(pool.transform(new Response('hang'))),
      25_000,
      'still pending after 25 s',
    );
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_TIMEOUT' });
  }, 60_000);
});

describe('processes', () => {
  function construct(processes: unknown): unknown {
    try {
      const pool = createTransformPool({ command: 'cat', processes } as unknown as PoolOptions);
      void pool.close({ timeout: 0 });
      return pool;
    } catch (error) {
      return error;
    }
  }

  it('must be an integer from 1 to 1024', async () => {
    expect(construct('4')).toBeInstanceOf(TypeError);
    expect(construct(0)).toBeInstanceOf(RangeError);
    expect(construct(1.5)).toBeInstanceOf(RangeError);
    // 1025 first: a pool that accepts it would also try to start 1e9 or Infinity processes, so the test
    // stops here rather than run that.
    expect(construct(1025)).toBeInstanceOf(RangeError);
    expect(construct(1e9)).toBeInstanceOf(RangeError);
    expect(construct(Number.POSITIVE_INFINITY)).toBeInstanceOf(RangeError);
  }, 60_000);

  // It spawns 1 024 processes, one after another: that took 69 s with both cores busy at other work. Only a
  // hang should fail it, so it gets about ten times that.
  it('accepts 1024', async () => {
    const pool = createTransformPool({ command: 'cat', processes: 1024, stderr: 'ignore' });
    await expect(pool.close({ timeout: 0 })).resolves.toBeUndefined();
  }, 600_000);
});
