// Several messages in flight on one process (`pipeline`): written back to back, answered in order, and every
// promise of the pool kept with them on board. The fixture reads ahead of its answers and says in `X-On-Board`
// how many messages it held when it answered; its directives are described at its top.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createTransformPool,
  type PoolOptions,
  type TransformError,
  type TransformPool,
} from '../../src/index.ts';
import { createPool, nodeFixture, outcomeOf, sleep, track, waitFor } from '../_utils.ts';

interface Outcome {
  body: string;
  onBoard: string | null;
  pid: string | null;
}

/** The answer with the pid and messages on board its fixture reports, or `rejected <code>`. */
function detailOf(promise: Promise<Response>): Promise<Outcome | string> {
  return promise.then(
    async (response) => ({
      body: await response.text(),
      onBoard: response.headers.get('x-on-board'),
      pid: response.headers.get('x-pid'),
    }),
    (error: TransformError) => `rejected ${error.code}`,
  );
}

const bodyOf = (outcome: Outcome | string): string => (typeof outcome === 'string' ? outcome : outcome.body);

/** A pool of one warm process: it has answered once, so messages may join it. */
async function warmPool(options: Partial<PoolOptions> = {}): Promise<TransformPool> {
  const pool = track(
    createTransformPool({
      command: nodeFixture('pipelined.mjs'),
      processes: 1,
      pipeline: 4,
      stderr: 'ignore',
      ...options,
    }),
  );
  expect(bodyOf(await detailOf(pool.transform(new Response('warm'))))).toBe('WARM');
  return pool;
}

/** Transforms started in one turn, in order; their outcomes. */
function all(pool: TransformPool, bodies: string[]): Promise<(Outcome | string)[]> {
  return Promise.all(bodies.map((body) => detailOf(pool.transform(new Response(body)))));
}

describe('pipeline', () => {
  it('holds several messages on one process at once and hands each answer to its own caller', async () => {
    const pool = await warmPool();
    const outcomes = await all(pool, ['hold:5 a', 'b', 'c', 'd']);
    expect(outcomes.map(bodyOf)).toEqual(['A', 'B', 'C', 'D']);
    // The first was answered with all four on board: they were written before its answer came.
    expect((outcomes[0] as Outcome).onBoard).toBe('4');
    expect(pool.stats()).toMatchObject({ started: 1, ok: 5, failed: 0 });
  });

  it('keeps to `pipeline`: a fifth waits for room, and `pipeline: 1` sends one message at a time', async () => {
    const four = await warmPool();
    const outcomes = await all(four, ['hold:6:1500 a', 'b', 'c', 'd', 'e']);
    expect(outcomes.map(bodyOf)).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect((outcomes[0] as Outcome).onBoard).toBe('4');

    const one = await warmPool({ pipeline: 1 });
    const sequential = await all(one, ['hold:3:1500 a', 'b']);
    expect(sequential.map(bodyOf)).toEqual(['A', 'B']);
    expect(sequential.map((outcome) => (outcome as Outcome).onBoard)).toEqual(['1', '1']);
  });

  it('a process that finishes one message takes the next waiting one while it still holds another', async () => {
    const pool = await warmPool({ pipeline: 2 });
    // a and b fill the pipeline; c waits. b holds its answer until c has arrived, which it can only do
    // through the room a leaves (or after b's 10 s hold, with one message on board).
    const outcomes = await all(pool, ['a', 'hold:4:10000 b', 'c']);
    expect(outcomes.map(bodyOf)).toEqual(['A', 'B', 'C']);
    expect((outcomes[1] as Outcome).onBoard).toBe('2');
  });

  it('joins a busy process only when none is idle, and never one still starting', async () => {
    const pool = track(
      createTransformPool({
        command: nodeFixture('pipelined.mjs'),
        processes: 2,
        pipeline: 4,
        stderr: 'ignore',
      }),
    );
    // Neither has answered yet: the third waits for one to answer instead of joining it.
    const cold = await all(pool, ['hold:2:1500 a', 'hold:2:1500 b', 'c']);
    expect(cold.map(bodyOf)).toEqual(['A', 'B', 'C']);
    expect(cold.slice(0, 2).map((outcome) => (outcome as Outcome).onBoard)).toEqual(['1', '1']);
    await waitFor(() => pool.stats().idle === 2);
    // Both idle: two transforms go to two processes, not one.
    const warm = await all(pool, ['hold:2:1500 d', 'hold:2:1500 e']);
    expect(warm.map(bodyOf)).toEqual(['D', 'E']);
    expect(new Set(warm.map((outcome) => (outcome as Outcome).pid)).size).toBe(2);
  });

  it('fails a message its process dies on alone; the messages behind it are retried on a fresh process', async () => {
    const pool = await warmPool();
    const outcomes = await all(pool, ['hold:4 crash a', 'b', 'c']);
    expect(outcomes.map(bodyOf)).toEqual(['rejected ERR_TRANSFORM_EXIT', 'B', 'C']);
    expect(pool.stats()).toMatchObject({ started: 2, ok: 3, failed: 1 });
  });

  it('retries every message on board when an answer repeats an id answered before', async () => {
    const pool = await warmPool();
    // Here its hold ends when c arrives (the warm-up is the first); on the fresh process, where only the three
    // arrive, after 1 s (the default, 20 s, was a third of the test's bound).
    const outcomes = await all(pool, ['hold:4:1000 stale a', 'b', 'c']);
    // The stale answer proves nothing about the message it came for: it is retried too, on a fresh process
    // that has answered nothing, so it answers with its own id.
    expect(outcomes.map(bodyOf)).toEqual(['A', 'B', 'C']);
    expect(pool.stats()).toMatchObject({ started: 2, failed: 0 });
  });

  it('an answer followed in its last read by bytes no answer starts with fails, though its head was out', async () => {
    const pool = await warmPool();
    const [ahead, behind] = [
      pool.transform(new Response('hold:3 tail abcdef')),
      detailOf(pool.transform(new Response('b'))),
    ];
    // Its head and half its body came in one read and were handed out; the rest came with the garbage.
    const response = await ahead;
    await expect(response.text()).rejects.toMatchObject({ code: 'ERR_TRANSFORM_PROTOCOL' });
    // The bytes are also where the answer to the one behind should begin: it is the one being answered.
    expect(bodyOf(await behind)).toBe('rejected ERR_TRANSFORM_PROTOCOL');
  });

  it('sends the messages behind a Connection: close answer to another process', async () => {
    const pool = await warmPool();
    const outcomes = await all(pool, ['hold:4 close a', 'b', 'c']);
    expect(outcomes.map(bodyOf)).toEqual(['A', 'B', 'C']);
    expect(pool.stats()).toMatchObject({ started: 2, failed: 0 });
  });

  it("counts a message's timeout from its turn, not from when it joined", async () => {
    // The first streams for 3 s, never silent for more than 100 ms (a 10x margin on the 1 s timeout); the
    // second waits behind it three times its timeout.
    const pool = await warmPool({ timeout: 1000 });
    const outcomes = await all(pool, ['trickle:30 a', 'b']);
    expect(outcomes.map(bodyOf)).toEqual([`A${'.'.repeat(30)}`, 'B']);
    expect(pool.stats()).toMatchObject({ started: 1, failed: 0, timedOut: 0 });
  });

  it('a timeout kills its process; the messages behind it are retried', async () => {
    const pool = await warmPool({ timeout: 500 });
    // Silent for its whole hold (20 s): the timeout, not the hold, ends it.
    const outcomes = await all(pool, ['hold:9 a', 'b', 'c']);
    expect(outcomes.map(bodyOf)).toEqual(['rejected ERR_TRANSFORM_TIMEOUT', 'B', 'C']);
    expect(pool.stats()).toMatchObject({ started: 2, failed: 1 });
  });

  it('a client that leaves a message waiting behind another costs the one ahead nothing, and the process stays', async () => {
    const pool = await warmPool({ timeout: 5000 });
    const controller = new AbortController();
    const ahead = detailOf(pool.transform(new Response('trickle:15 a')));
    const behind = detailOf(pool.transform(new Response('b'), { signal: controller.signal }));
    await sleep(100);
    controller.abort();
    expect(await behind).toBe('rejected ERR_TRANSFORM_ABORTED');
    // The drain of the abandoned answer is bounded from its turn, not from the abort: the 1.5 s answer ahead
    // of it does not get the process killed.
    expect(bodyOf(await ahead)).toBe(`A${'.'.repeat(15)}`);
    expect(bodyOf(await detailOf(pool.transform(new Response('c'))))).toBe('C');
    expect(pool.stats()).toMatchObject({ started: 1, aborted: 1 });
  });

  it('a handler body failing behind another message leaves the answer ahead of it whole', async () => {
    const pool = await warmPool();
    const ahead = detailOf(pool.transform(new Response('trickle:10 a')));
    const encoder = new TextEncoder();
    const failing = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode('hold:9 '));
        await sleep(200);
        controller.error(new Error('the handler failed'));
      },
    });
    const behind = pool.transform(new Response(failing));
    await expect(behind).rejects.toThrow('the handler failed');
    expect(bodyOf(await ahead)).toBe(`A${'.'.repeat(10)}`);
    expect(bodyOf(await detailOf(pool.transform(new Response('c'))))).toBe('C');
    expect(pool.stats()).toMatchObject({ started: 2 });
  });

  it('a serveTransform child that exits on one message has written every answer before it', async () => {
    // Quick answers right before the poison: none may wait in the child for the next one to be written.
    const pool = track(
      createTransformPool({
        command: nodeFixture('serve-pipeline.mjs'),
        processes: 1,
        pipeline: 16,
        stderr: 'ignore',
      }),
    );
    expect(await (await pool.transform(new Response('warm'))).text()).toBe('warm');
    for (let round = 0; round < 5; round++) {
      const modes = Array.from({ length: 40 }, (_, i) => (i === 10 ? 'exit' : 'echo'));
      const outcomes = await Promise.all(
        modes.map((mode, i) =>
          detailOf(pool.transform(new Response(`m${i}`, { headers: { 'x-mode': mode } }))),
        ),
      );
      expect(outcomes.map(bodyOf)).toEqual(
        modes.map((mode, i) => (mode === 'exit' ? 'rejected ERR_TRANSFORM_EXIT' : `m${i}`)),
      );
    }
  });

  it('streams a large body anywhere in the pipeline byte for byte, with backpressure', async () => {
    const pool = track(createTransformPool({ command: 'cat', processes: 1, pipeline: 4 }));
    expect(await (await pool.transform(new Response('warm'))).text()).toBe('warm');
    const big = new Uint8Array(8 * 1024 * 1024).map((_, i) => i % 251);
    // Each body is read as its answer comes: the one behind the large answer comes only once that is read.
    const read = (body: BodyInit): Promise<Uint8Array> =>
      pool
        .transform(new Response(body))
        .then(async (response) => new Uint8Array(await response.arrayBuffer()));
    const [small, large, last] = await Promise.all([read('first'), read(big), read('last')]);
    expect(new TextDecoder().decode(small)).toBe('first');
    expect(large.byteLength).toBe(big.byteLength);
    expect(Buffer.compare(large, big)).toBe(0);
    expect(new TextDecoder().decode(last)).toBe('last');
    expect(pool.stats()).toMatchObject({ started: 1, ok: 4, failed: 0 });
  });
});

describe('one process holds at most `pipeline` transforms at a time', () => {
  /**
   * 32 transforms from 4 clients on one process. Each client sends its next transform the moment its last
   * one is answered: new work arrives just as the process hands off to queued work, when a process also put
   * back on the idle list would take it. Returns each token with its outcome, and the most messages the
   * process held unanswered at once.
   */
  async function runClients(pipeline: number): Promise<{ results: [string, string][]; most: number }> {
    const pool = createPool({ command: nodeFixture('in-flight.mjs'), pipeline });
    const client = async (name: string): Promise<[string, string][]> => {
      const results: [string, string][] = [];
      for (let index = 0; index < 8; index++) {
        const token = `${name}${index}-${randomBytes(4).toString('hex')}`;
        results.push([token, await outcomeOf(pool.transform(new Response(token)))]);
      }
      return results;
    };
    const results = (await Promise.all(['a', 'b', 'c', 'd'].map(client))).flat();
    let most = 0;
    for (const [token, outcome] of results) {
      const match = /^(.*) inflight=(\d+)$/.exec(outcome);
      expect(match?.[1]).toBe(token);
      most = Math.max(most, Number(match?.[2]));
    }
    expect(results).toHaveLength(32);
    return { results, most };
  }

  it('with `pipeline: 1`, one message in flight at a time, each answer to its own client', async () => {
    const { most } = await runClients(1);
    expect(most).toBe(1);
  }, 60_000);

  it('with `pipeline: 2`, never more than two, each answer to its own client', async () => {
    const { most } = await runClients(2);
    expect(most).toBeGreaterThanOrEqual(1);
    expect(most).toBeLessThanOrEqual(2);
  }, 60_000);
});
