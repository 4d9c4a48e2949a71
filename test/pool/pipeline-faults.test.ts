// Pipelining under faults: each test puts one client's trouble beside other clients' innocent messages on the
// same process and checks that every promise of the pool still holds for the innocent ones.
import { describe, expect, it } from 'vitest';
import { createTransformPool, type PoolOptions, type TransformPool } from '../../src/index.ts';
import { nodeFixture, outcomeOf, StderrLines, sleep, track } from '../_utils.ts';

const encoder = new TextEncoder();

/** Every transform started ended exactly once: ok, failed or aborted. */
function expectPartition(pool: TransformPool, started: number): void {
  const { ok, failed, aborted } = pool.stats();
  expect(ok + failed + aborted).toBe(started);
}

/** A pool of warm processes (each answered once), so messages may join them. */
async function warmPool(command: string[], options: Partial<PoolOptions> = {}): Promise<TransformPool> {
  const processes = options.processes ?? 1;
  const pool = track(
    createTransformPool({ command, processes: 1, pipeline: 4, stderr: 'ignore', ...options }),
  );
  const warm = await Promise.all(
    Array.from({ length: processes }, () => outcomeOf(pool.transform(new Response('warm')))),
  );
  expect(warm.every((text) => !text.startsWith('rejected'))).toBe(true);
  expect(pool.stats().started).toBe(processes);
  return pool;
}

/** A handler body that sends `chunks` chunks of `text`, `ms` apart: a slow handler. */
function slowBody(chunks: number, ms: number, text = '.'): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      await sleep(ms);
      controller.enqueue(encoder.encode(text));
      if (++sent === chunks) controller.close();
    },
  });
}

/** `promise`'s outcome, or `pending` if it has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("one client's trouble beside innocent messages on one process", () => {
  it("a message behind one answered early does not time out while that one's handler body is still slow", async () => {
    // serve-unread answers each message 20 ms after its head, before reading its body. The first message's
    // handler body streams for 3 s (its own clock pauses while the handler is read); the second waits to be
    // written behind it. Its timeout (1 s) must not run while it waits for another client's handler.
    const pool = await warmPool(nodeFixture('serve-unread.mjs'), { timeout: 1000 });
    const ahead = outcomeOf(pool.transform(new Response(slowBody(30, 100))));
    const behind = outcomeOf(pool.transform(new Response('b')));
    expect(await Promise.all([ahead, behind])).toEqual(['unread null', 'unread null']);
    expect(pool.stats()).toMatchObject({ started: 1, failed: 0, timedOut: 0 });
    expectPartition(pool, 3);
  });

  // Known limit, not fixed: a message written behind another cannot move to another process, and its clock
  // waits for its turn, so it waits as long as that client reads. Fails today by staying pending.
  it('a message does not join a process whose answer waits on a client that stopped reading', async () => {
    // Two cat processes. One answers 8 MiB to a client that never reads it; the other is busy for 300 ms
    // with a slow handler. Two more messages arrive with no process idle: one joins each. The one behind the
    // unread answer must not wait on that client's reader (in the queue it would have had the other process
    // 300 ms later); it waits for ever, its timeout paused behind the other client's reader.
    const pool = await warmPool(['cat'], { processes: 2, timeout: 30_000 });
    const big = new Uint8Array(8 * 1024 * 1024).fill(0x61);
    const unread = await pool.transform(new Response(big));
    const slow = outcomeOf(pool.transform(new Response(slowBody(3, 100, 'x'))));
    const innocent = [
      outcomeOf(pool.transform(new Response('b1'))),
      outcomeOf(pool.transform(new Response('b2'))),
    ];
    expect(await slow).toBe('xxx');
    const settled = await within(Promise.all(innocent), 10_000);
    await unread.body?.cancel();
    expect(settled).toEqual(['b1', 'b2']);
  });

  it('a process killed from outside fails the message being answered; the ones behind it are retried', async () => {
    const log = new StderrLines();
    const pool = await warmPool(nodeFixture('pipeline-review.mjs'), log.options());
    const pid = pool.stats().processes[0]?.pid as number;
    const outcomes = Promise.all(
      ['hold:9 a', 'b', 'c'].map((body) => outcomeOf(pool.transform(new Response(body)))),
    );
    // All three read (the warm-up was the first), not a time that a loaded machine may not keep.
    await log.until('arrived 4');
    process.kill(pid, 'SIGKILL');
    expect(await outcomes).toEqual(['rejected ERR_TRANSFORM_EXIT', 'B', 'C']);
    expect(pool.stats()).toMatchObject({ started: 2, ok: 3, failed: 1 });
    expectPartition(pool, 4);
  });

  it('an answer with the id of a message behind the oldest outstanding kills the process; the ones behind are retried', async () => {
    const pool = await warmPool(nodeFixture('pipeline-review.mjs'));
    const outcomes = await Promise.all(
      ['ahead a', 'b', 'c'].map((body) => outcomeOf(pool.transform(new Response(body)))),
    );
    expect(outcomes).toEqual(['rejected ERR_TRANSFORM_PROTOCOL', 'B', 'C']);
    expect(pool.stats()).toMatchObject({ started: 2, ok: 3, failed: 1 });
    expectPartition(pool, 4);
  });

  it('an answer framed by the end of output, with messages behind it: it stands, they go to another process', async () => {
    const pool = await warmPool(nodeFixture('pipeline-review.mjs'));
    const outcomes = await Promise.all(
      ['hold:4 eof a', 'b', 'c'].map((body) => outcomeOf(pool.transform(new Response(body)))),
    );
    expect(outcomes).toEqual(['A', 'B', 'C']);
    expect(pool.stats()).toMatchObject({ started: 2, ok: 4, failed: 0 });
  });

  it('a client that leaves mid-body ahead of others: past the drain bound the process goes, the ones behind are retried', async () => {
    const pool = await warmPool(nodeFixture('pipelined.mjs'), { timeout: 5000 });
    const ahead = await pool.transform(new Response('trickle:40 a'));
    const behind = [
      outcomeOf(pool.transform(new Response('b'))),
      outcomeOf(pool.transform(new Response('c'))),
    ];
    const reader = ahead.body?.getReader();
    await reader?.read();
    await reader?.cancel();
    expect(await Promise.all(behind)).toEqual(['B', 'C']);
    // Its answer goes on for 4 s, past the drain's 1 s: the process was replaced.
    expect(pool.stats()).toMatchObject({ started: 2, ok: 3, failed: 0, aborted: 1 });
    expectPartition(pool, 4);
  });

  for (const pipeline of [4, 16]) {
    it(`serveTransform children answer pipelined input in order under load (pipeline ${pipeline})`, async () => {
      const pool = await warmPool(nodeFixture('serve-echo.mjs'), { processes: 2, pipeline });
      const bodies = Array.from({ length: 120 }, (_, i) =>
        i % 10 === 0 ? `${i}:${'x'.repeat(200 * 1024)}` : `${i}:${'y'.repeat(i * 37)}`,
      );
      const outcomes = await Promise.all(bodies.map((body) => outcomeOf(pool.transform(new Response(body)))));
      expect(outcomes.map((text, i) => text === bodies[i])).toEqual(bodies.map(() => true));
      expect(pool.stats()).toMatchObject({ started: 2, failed: 0 });
      expectPartition(pool, 122);
    });
  }

  it('the recycle hook hears of each transform, even when two answers come in one read', async () => {
    const seen: number[] = [];
    const pool = await warmPool(nodeFixture('pipeline-review.mjs'), {
      recycle: ({ transforms }) => {
        seen.push(transforms);
        return false;
      },
    });
    const outcomes = await Promise.all(
      ['hold:3 join a', 'b'].map((body) => outcomeOf(pool.transform(new Response(body)))),
    );
    expect(outcomes).toEqual(['A', 'B']);
    expect(seen).toEqual([1, 2, 3]);
  });

  it('a process the recycle hook retires between two answers of one read still ends after the last', async () => {
    let exited: (event: { code: number | undefined; reason: string }) => void = () => {};
    const exit = new Promise<{ code: number | undefined; reason: string }>((resolve) => {
      exited = resolve;
    });
    const pool = await warmPool(nodeFixture('pipeline-review.mjs'), {
      // Retires it after the first of the two answers that come in one read (the warm one is the first).
      recycle: ({ transforms }) => transforms === 2,
      onEvent: (event) => {
        if (event.type === 'exit') exited(event);
      },
    });
    const outcomes = await Promise.all(
      ['hold:3 join a', 'b'].map((body) => outcomeOf(pool.transform(new Response(body)))),
    );
    expect(outcomes).toEqual(['A', 'B']);
    // Its stdin is ended once its board is empty: it exits by itself, before close() could end it.
    expect(await exit).toMatchObject({ code: 0, reason: 'recycle' });
    expect(pool.stats()).toMatchObject({ ok: 3, failed: 0, exited: 1 });
  });

  it('a process still starting is never joined, whatever its startTimeout', async () => {
    // slow-boot reads nothing for 1.5 s: both messages wait for its first answer one after another, each
    // answered with one message on board (its answer names its pid; on board shows in the order of answers).
    const pool = track(
      createTransformPool({
        command: nodeFixture('slow-boot.mjs', '1500'),
        processes: 1,
        pipeline: 4,
        startTimeout: 20_000,
        stderr: 'ignore',
      }),
    );
    const first = pool.transform(new Response('a'));
    const second = pool.transform(new Response('b'));
    expect(pool.stats()).toMatchObject({ queued: 1, busy: 1 });
    await first;
    await second;
    expect(pool.stats()).toMatchObject({ started: 1, ok: 2, failed: 0 });
  });

  it('a Transform-Error answer ahead fails only its own message, and the process stays', async () => {
    const pool = await warmPool(nodeFixture('transform-error.mjs'));
    const outcomes = await Promise.all(
      ['fail', 'b', 'fail', 'd'].map((body) => outcomeOf(pool.transform(new Response(body)))),
    );
    expect(outcomes).toEqual(['rejected ERR_TRANSFORM_FAILED', 'b', 'rejected ERR_TRANSFORM_FAILED', 'd']);
    expect(pool.stats()).toMatchObject({ started: 1, ok: 3, failed: 2 });
    expectPartition(pool, 5);
  });

  it('reload(), close() and maxRequestsPerProcess with messages on board: each answered, none failed', async () => {
    const limited = await warmPool(nodeFixture('pipelined.mjs'), { maxRequestsPerProcess: 3 });
    const outcomes = await Promise.all(
      ['hold:4:2000 a', 'b', 'c', 'd'].map((body) => outcomeOf(limited.transform(new Response(body)))),
    );
    expect(outcomes).toEqual(['A', 'B', 'C', 'D']);
    // Three transforms each at most: the warm one and two more on the first, the other two on the next.
    expect(limited.stats()).toMatchObject({ started: 2, ok: 5, failed: 0 });

    // The first holds its answer until the test signals, so all four are read and none answered when
    // reload() and close() are called, on any machine.
    const reloadLog = new StderrLines();
    const reloaded = await warmPool(nodeFixture('pipelined.mjs'), reloadLog.options());
    const reloadedPid = reloaded.stats().processes[0]?.pid as number;
    const onBoard = Promise.all(
      ['signal a', 'b', 'c', 'd'].map((body) => outcomeOf(reloaded.transform(new Response(body)))),
    );
    await reloadLog.until('arrived 5');
    const reload = reloaded.reload();
    process.kill(reloadedPid, 'SIGUSR2');
    expect(await onBoard).toEqual(['A', 'B', 'C', 'D']);
    await reload;
    expect(reloaded.stats()).toMatchObject({ ok: 5, failed: 0 });

    const closeLog = new StderrLines();
    const closed = await warmPool(nodeFixture('pipelined.mjs'), closeLog.options());
    const closedPid = closed.stats().processes[0]?.pid as number;
    const lastOnes = Promise.all(
      ['signal a', 'b', 'c', 'd'].map((body) => outcomeOf(closed.transform(new Response(body)))),
    );
    await closeLog.until('arrived 5');
    const closing = closed.close({ timeout: 20_000 });
    process.kill(closedPid, 'SIGUSR2');
    await closing;
    expect(await lastOnes).toEqual(['A', 'B', 'C', 'D']);
    expect(closed.stats()).toMatchObject({ ok: 5, failed: 0 });
  });

  it("a message behind a crash is not retried once its handler's body was read beyond the first batch", async () => {
    const pool = await warmPool(nodeFixture('pipelined.mjs'));
    // The first crashes once the second has arrived whole (warm-up, itself, the second: 3 received), so
    // the second's handler body, sent in 20 batches, was read to its end before the crash.
    const crash = outcomeOf(pool.transform(new Response('hold:3 crash a')));
    const streamed = outcomeOf(pool.transform(new Response(slowBody(20, 50, 'x'))));
    const fresh = outcomeOf(pool.transform(new Response('c')));
    expect(await crash).toBe('rejected ERR_TRANSFORM_EXIT');
    // Its first batch went out, then more of its body was read: it cannot be sent again, so it fails.
    expect(await streamed).toBe('rejected ERR_TRANSFORM_EXIT');
    expect(await fresh).toBe('C');
    expectPartition(pool, 4);
  });

  it('a transform that closes its stdout mid-answer fails that message alone; the ones behind are retried', async () => {
    const pool = await warmPool(nodeFixture('pipeline-review.mjs'));
    const outcomes = await Promise.all(
      ['hold:4 cut a', 'b', 'c'].map((body) => outcomeOf(pool.transform(new Response(body)))),
    );
    expect(outcomes).toEqual(['rejected ERR_TRANSFORM_EXIT', 'B', 'C']);
    expect(pool.stats()).toMatchObject({ started: 2, ok: 3, failed: 1 });
    expectPartition(pool, 4);
  });

  it('a silent message behind an answered one times out alone; the one ahead stands, the one behind is retried', async () => {
    const pool = await warmPool(nodeFixture('pipelined.mjs'), { timeout: 500 });
    const outcomes = await Promise.all(
      ['hold:4 a', 'hold:9 b', 'c'].map((body) => outcomeOf(pool.transform(new Response(body)))),
    );
    expect(outcomes).toEqual(['A', 'rejected ERR_TRANSFORM_TIMEOUT', 'C']);
    expect(pool.stats()).toMatchObject({ started: 2, ok: 3, failed: 1, timedOut: 1 });
    expectPartition(pool, 4);
  });

  it('a handler body that fails ahead of others fails alone; the messages behind it are retried', async () => {
    const pool = await warmPool(nodeFixture('pipelined.mjs'));
    const failing = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode('hold:9 '));
        await sleep(200);
        controller.error(new Error('the handler failed'));
      },
    });
    const ahead = pool.transform(new Response(failing)).then(
      () => 'answered',
      (error: Error) => error.message,
    );
    const behind = ['b', 'c'].map((body) => outcomeOf(pool.transform(new Response(body))));
    expect(await ahead).toBe('the handler failed');
    expect(await Promise.all(behind)).toEqual(['B', 'C']);
    expectPartition(pool, 4);
  });

  it('a client that leaves while its upload is written behind another: the process is drained and kept', async () => {
    const pool = await warmPool(nodeFixture('pipelined.mjs'), { timeout: 5000 });
    const controller = new AbortController();
    const ahead = outcomeOf(pool.transform(new Response('trickle:10 a')));
    const upload = outcomeOf(
      pool.transform(new Response(slowBody(10, 50, 'x')), { signal: controller.signal }),
    );
    const after = outcomeOf(pool.transform(new Response('c')));
    await sleep(200);
    controller.abort();
    expect(await upload).toBe('rejected ERR_TRANSFORM_ABORTED');
    expect(await ahead).toBe(`A${'.'.repeat(10)}`);
    expect(await after).toBe('C');
    expect(pool.stats()).toMatchObject({ started: 1, ok: 3, aborted: 1, failed: 0 });
  });

  it('large bodies ahead of and behind a small one, read slowly: bytes exact, memory bounded', async () => {
    const pool = await warmPool(['cat']);
    const size = 192 * 1024 * 1024;
    const chunk = 256 * 1024;
    /** A body generated as it is read, so the test holds none of it. */
    const generated = (seed: number): ReadableStream<Uint8Array> => {
      let sent = 0;
      return new ReadableStream({
        pull(controller) {
          controller.enqueue(new Uint8Array(chunk).fill((seed + sent / chunk) % 256));
          sent += chunk;
          if (sent === size) controller.close();
        },
      });
    };
    /** Bytes and a checksum by position; `stall` ms without reading after the first chunk (a slow client). */
    const read = async (response: Response, stall = 0): Promise<[number, number]> => {
      let bytes = 0;
      let sum = 0;
      for await (const part of response.body as ReadableStream<Uint8Array>) {
        // Every 4096th byte of the stream, wherever the chunks split it.
        for (let i = (4096 - (bytes % 4096)) % 4096; i < part.byteLength; i += 4096) {
          sum = (sum + (part[i] as number) * (((bytes + i) / 4096) % 997)) % 1e9;
        }
        if (bytes === 0 && stall > 0) await sleep(stall);
        bytes += part.byteLength;
      }
      return [bytes, sum];
    };
    const readSlowly = (response: Response) => read(response, 4000);
    const expected = (seed: number) => read(new Response(generated(seed)));
    const rss = () => process.memoryUsage().rss;
    const before = rss();
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss());
    }, 20);
    try {
      const [first, small, last] = await Promise.all([
        pool.transform(new Response(generated(1))).then(readSlowly),
        outcomeOf(pool.transform(new Response('small'))),
        pool.transform(new Response(generated(7))).then(readSlowly),
      ]);
      expect(first).toEqual(await expected(1));
      expect(small).toBe('small');
      expect(last).toEqual(await expected(7));
    } finally {
      clearInterval(sampler);
    }
    // 384 MiB went through, each body behind a reader that stalls 4 s: a pipeline that buffered either
    // would hold most of 192 MiB. The bound leaves room for garbage Node 24 leaves uncollected (about 70 MiB
    // with 64 MiB bodies).
    expect(peak - before).toBeLessThan(96 * 1024 * 1024);
    expect(pool.stats()).toMatchObject({ started: 1, ok: 4, failed: 0 });
  });
});
