// A client that leaves is not a failed transform: `stats()` counts it in `aborted`, never in `failed`, in both
// kinds of pool, whether it left while its transform waited, ran, or streamed its body.
import { describe, expect, it } from 'vitest';
import { createTransformPool, type PoolStats, TransformError, type TransformPool } from '../../src/index.ts';
import { createObservedPool, nodeFixture, outcomeOf, StderrLines, track, waitFor } from '../_utils.ts';

async function rejection(promise: Promise<unknown>): Promise<TransformError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(TransformError);
  return error as TransformError;
}

function counts(pool: TransformPool): Pick<PoolStats, 'ok' | 'failed' | 'aborted' | 'timedOut'> {
  const { ok, failed, aborted, timedOut } = pool.stats();
  return { ok, failed, aborted, timedOut };
}

/** Read one chunk of a transformed body, then cancel it, as a client that hangs up mid-response. */
async function readOneChunkAndCancel(response: Response): Promise<void> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  expect((await reader.read()).done).toBe(false);
  await reader.cancel();
}

describe("stats().aborted (protocol: 'http')", () => {
  it('counts a transform aborted in flight as aborted, not failed', async () => {
    const log = new StderrLines();
    const pool = track(
      createTransformPool({
        command: nodeFixture('slow-head.mjs'),
        processes: 1,
        // Its head comes long after the abort, however busy the machine; past 1 s of draining the pool kills
        // and replaces the process, which changes no count.
        ...log.options({ SLOW_MS: '3000' }),
      }),
    );
    const controller = new AbortController();
    const pending = pool.transform(new Response('slow'), { signal: controller.signal });
    // The process holds the message and is writing nothing yet: the client leaves in the middle.
    await log.until('waiting');
    controller.abort();
    expect((await rejection(pending)).code).toBe('ERR_TRANSFORM_ABORTED');
    expect(await (await pool.transform(new Response('next'))).text()).toBe('next');
    expect(counts(pool)).toEqual({ ok: 1, failed: 0, aborted: 1, timedOut: 0 });
  });

  it('counts a transform aborted while queued as aborted', async () => {
    const log = new StderrLines();
    const pool = track(
      createTransformPool({
        command: nodeFixture('slow-head.mjs'),
        processes: 1,
        ...log.options({ SLOW_MS: '300' }),
      }),
    );
    const running = pool.transform(new Response('slow'));
    const controller = new AbortController();
    const queued = pool.transform(new Response('never'), { signal: controller.signal });
    expect(pool.stats().queued).toBe(1);
    controller.abort();
    expect((await rejection(queued)).code).toBe('ERR_TRANSFORM_ABORTED');
    expect(await (await running).text()).toBe('slow');
    expect(counts(pool)).toEqual({ ok: 1, failed: 0, aborted: 1, timedOut: 0 });
  });

  it('counts a cancelled body as aborted, and a Transform-Error as failed', async () => {
    const pool = track(createTransformPool({ command: nodeFixture('endless-body.mjs'), processes: 1 }));
    await readOneChunkAndCancel(await pool.transform(new Response('endless')));
    // The endless process cannot be drained: it is killed and replaced, and that is no failure either.
    expect(await waitFor(() => pool.stats().exited === 1)).toBe(true);
    expect(await (await pool.transform(new Response('after'))).text()).toBe('after');
    expect(counts(pool)).toEqual({ ok: 1, failed: 0, aborted: 1, timedOut: 0 });

    const failing = track(
      createTransformPool({
        command: nodeFixture('transform-error.mjs'),
        processes: 1,
        stderr: 'ignore',
        onEvent: () => {},
      }),
    );
    expect((await rejection(failing.transform(new Response('fail')))).code).toBe('ERR_TRANSFORM_FAILED');
    expect(counts(failing)).toEqual({ ok: 0, failed: 1, aborted: 0, timedOut: 0 });
  });
});

describe("stats().aborted (protocol: 'body')", () => {
  it('counts a filter aborted in flight as aborted, not failed', async () => {
    const events: string[] = [];
    const pool = track(
      createTransformPool({
        command: ['sleep', '60'],
        protocol: 'body',
        processes: 1,
        onEvent: (event) => events.push(event.type === 'exit' ? `exit ${event.reason}` : event.type),
      }),
    );
    const controller = new AbortController();
    const pending = pool.transform(new Response('x'), { signal: controller.signal });
    expect(await waitFor(() => events.includes('spawn'), 10_000)).toBe(true);
    controller.abort();
    expect((await rejection(pending)).code).toBe('ERR_TRANSFORM_ABORTED');
    expect(await waitFor(() => pool.stats().busy === 0, 10_000)).toBe(true);
    // The filter's end is heard from its child's end, which may come after the pool released the slot.
    expect(await waitFor(() => events.length === 2, 10_000)).toBe(true);
    expect(events).toEqual(['spawn', 'exit abort']);
    expect(counts(pool)).toEqual({ ok: 0, failed: 0, aborted: 1, timedOut: 0 });
  });

  it('counts a filter aborted while queued, and a cancelled body, as aborted', async () => {
    const pool = track(createTransformPool({ command: ['yes'], protocol: 'body', processes: 1 }));
    const response = await pool.transform(new Response('x'));
    // The one slot is taken by `yes` until its body is cancelled: the next transform waits for it.
    const controller = new AbortController();
    const queued = pool.transform(new Response('never'), { signal: controller.signal });
    expect(pool.stats().queued).toBe(1);
    controller.abort();
    expect((await rejection(queued)).code).toBe('ERR_TRANSFORM_ABORTED');
    await readOneChunkAndCancel(response);
    expect(await waitFor(() => pool.stats().busy === 0, 10_000)).toBe(true);
    expect(counts(pool)).toEqual({ ok: 0, failed: 0, aborted: 2, timedOut: 0 });
  });

  it('counts a filter that fails as failed', async () => {
    const pool = track(
      createTransformPool({
        command: ['sh', '-c', 'exit 3'],
        protocol: 'body',
        processes: 1,
        onEvent: () => {},
      }),
    );
    expect((await rejection(pool.transform(new Response('x')))).code).toBe('ERR_TRANSFORM_EXIT');
    expect(await waitFor(() => pool.stats().busy === 0, 10_000)).toBe(true);
    expect(counts(pool)).toEqual({ ok: 0, failed: 1, aborted: 0, timedOut: 0 });
  });
});

describe('stats() process counts', () => {
  const stateCounts = (pool: TransformPool) => {
    const { alive, starting, idle, busy, retiring } = pool.stats();
    return { alive, starting, idle, busy, retiring };
  };

  it('count each live process in one state: starting until it answers, then idle or busy', async () => {
    // Loads for 60 s: no answer can come while the first snapshot is taken.
    const pool = track(
      createTransformPool({ command: nodeFixture('slow-boot.mjs', '60000'), processes: 2, stderr: 'ignore' }),
    );
    expect(stateCounts(pool)).toEqual({ alive: 2, starting: 2, idle: 0, busy: 0, retiring: 0 });
    const cat = track(createTransformPool({ command: 'cat', processes: 2 }));
    expect(await (await cat.transform(new Response('one'))).text()).toBe('one');
    // One has answered and waits; the other has not answered yet.
    expect(stateCounts(cat)).toEqual({ alive: 2, starting: 1, idle: 1, busy: 0, retiring: 0 });
    await cat.reload();
    const after = stateCounts(cat);
    expect(after.starting + after.idle + after.busy + after.retiring).toBe(after.alive);
  });

  it('counts the first `processes` starts as started, and each replacement as restarted too', async () => {
    const pool = track(createTransformPool({ command: 'cat', processes: 2 }));
    expect(pool.stats()).toMatchObject({ started: 2, restarted: 0, exited: 0 });
    const [first] = pool.stats().processes;
    process.kill(first?.pid as number, 'SIGKILL');
    expect(await waitFor(() => pool.stats().exited === 1 && pool.stats().started === 3)).toBe(true);
    expect(pool.stats()).toMatchObject({ started: 3, restarted: 1, alive: 2 });
  });
});

describe('stats()', () => {
  // Defects: a failure reported twice (a Transform-Error then its timeout, a body error then the exit).
  it('counts each transform once: ok, failed and timed out, exactly, after failures of every kind', async () => {
    const { pool } = createObservedPool(nodeFixture('misbehaves.mjs'), { timeout: 1000 });
    // Each fault on a process that has answered once, so the 1 s timeout is what applies.
    const expected: [string, RegExp][] = [
      ['error', /^rejected ERR_TRANSFORM_FAILED$/],
      ['error-stall', /^rejected ERR_TRANSFORM_FAILED$/],
      ['crash', /^rejected ERR_TRANSFORM_EXIT$/],
      // The head was handed out: the body fails, with the exit or with the cut-off answer.
      ['cut', /^rejected ERR_TRANSFORM_(EXIT|PROTOCOL)$/],
      ['stall', /^rejected ERR_TRANSFORM_TIMEOUT$/],
      ['hang', /^rejected ERR_TRANSFORM_TIMEOUT$/],
    ];
    for (const [fault, outcome] of expected) {
      expect(await outcomeOf(pool.transform(new Response('ok')))).toBe('ok');
      expect(await outcomeOf(pool.transform(new Response(fault)))).toMatch(outcome);
    }
    expect(await outcomeOf(pool.transform(new Response('ok')))).toBe('ok');
    expect(pool.stats()).toMatchObject({ ok: 7, failed: 6, timedOut: 2 });
  });
});
