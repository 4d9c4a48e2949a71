// Promises a user relies on that no other test pinned down: each test here failed when its promise was
// broken on purpose in the code (the defect named in its comment), and passes on the real code. Timings are
// properties (pids, counts, bytes, the order of events) or have a tenfold margin.
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTransformPool, type PoolOptions, type TransformPool } from '../src/index.ts';
import type { ProcessEvent } from '../src/shared/events.ts';
import { isRunning, nodeFixture, StderrLines, track, waitFor } from './_utils.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const encoder = new TextEncoder();

/** The body's text, or `rejected <code>` when the transform or its body failed. */
async function outcomeOf(promise: Promise<Response>): Promise<string> {
  try {
    return await (await promise).text();
  } catch (error) {
    return `rejected ${(error as { code?: string }).code ?? String(error)}`;
  }
}

/** The answer's body and the pid of the process that wrote it (fixtures that send X-Pid). */
async function answerOf(pool: TransformPool, body: string): Promise<{ text: string; pid: string | null }> {
  const response = await pool.transform(new Response(body));
  return { text: await response.text(), pid: response.headers.get('x-pid') };
}

/** A one-process pool whose events are kept, and whose stderr lines are collected (fixtures say `ready`). */
function createPool(command: string[], options: Partial<PoolOptions> = {}) {
  const events: ProcessEvent[] = [];
  const log = new StderrLines();
  const pool = track(
    createTransformPool({
      command,
      processes: 1,
      onEvent: (event) => events.push(event),
      ...options,
      ...log.options(options.env),
    }),
  );
  return { pool, events, log };
}

function exitsOf(events: ProcessEvent[]): Extract<ProcessEvent, { type: 'exit' }>[] {
  return events.filter((event) => event.type === 'exit');
}

function logFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'st-promises-')), 'log');
  appendFileSync(file, '');
  return file;
}

function linesOf(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

describe('the start backoff', () => {
  // Defect: StartBackoff.record() keeps counting after a process that answered (it never resets).
  it('counts failures in a row from zero again once a process has answered', async () => {
    const counter = join(mkdtempSync(join(tmpdir(), 'st-promises-')), 'starts');
    // Starts 1, 2, 4 and 5 crash at once; 3 and 6 serve (3 exits with code 1 on "crash", once it answered).
    const script = `n=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 )); echo $n > ${counter}; case $n in 1|2|4|5) exit 3;; esac; exec "$0" "$@"`;
    const { pool, events } = createPool(['sh', '-c', script, ...nodeFixture('crash-before-output.mjs')]);
    const spawns = () => events.filter((event) => event.type === 'spawn').length;
    expect(await waitFor(() => spawns() === 3, 20_000)).toBe(true);
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('warm');
    expect(await outcomeOf(pool.transform(new Response('crash')))).toBe('rejected ERR_TRANSFORM_EXIT');
    expect(await waitFor(() => spawns() === 6, 20_000)).toBe(true);
    expect(await outcomeOf(pool.transform(new Response('after')))).toBe('after');
    expect(readFileSync(counter, 'utf8').trim()).toBe('6');
    // Two crashes in a row at most, before the process that answered and after it: never 3 or 4.
    const failures = events.flatMap((event) => (event.type === 'backoff' ? [event.failures] : []));
    expect(failures.length).toBeGreaterThan(0);
    for (const count of failures) expect(count).toBeLessThanOrEqual(2);
  });
});

describe('Connection: close', () => {
  // Defect: TransformProcess ignores head.close, so the process is kept.
  it('with a Content-Length, the answer is delivered and its process retired after it', async () => {
    const { pool, events } = createPool(nodeFixture('misbehaves.mjs'));
    const closing = await answerOf(pool, 'close');
    expect(closing.text).toBe('closing');
    const next = await answerOf(pool, 'next');
    expect(next.text).toBe('next');
    expect(next.pid).not.toBe(closing.pid);
    expect(await waitFor(() => exitsOf(events).length === 1, 10_000)).toBe(true);
    expect(isRunning(Number(closing.pid))).toBe(false);
    // Retired as asked, neither killed nor crashed.
    expect(exitsOf(events)).toMatchObject([{ pid: Number(closing.pid), signal: undefined }]);
    expect(['recycle', 'close']).toContain(exitsOf(events)[0]?.reason);
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 0 });
  });
});

describe('serveTransform', () => {
  // Defect: MessageReader's body source ignores a cancel, so input paused for that body stays paused.
  it('serves the next message after the transform cancelled a body its input was paused for', async () => {
    // The message stays unread until the transform reads the rest of it: it must, within 10 s.
    const { pool } = createPool(nodeFixture('serve-cancel.mjs'), { timeout: 10_000 });
    const big = new Response(new Uint8Array(4 * MiB).fill(0x61), { headers: { 'x-cancel': '1' } });
    const cancelled = await pool.transform(big);
    expect(await cancelled.text()).toBe('cancelled');
    const next = await answerOf(pool, 'next');
    expect(next.text).toBe('next');
    expect(next.pid).toBe(cancelled.headers.get('x-pid'));
    expect(pool.stats()).toMatchObject({ started: 1, exited: 0, ok: 2, failed: 0, timedOut: 0 });
  });
});

describe('a process that ignores SIGTERM', () => {
  // Defect: GroupProcess.terminate() sends SIGTERM and never the SIGKILL a grace later.
  it('is killed with SIGKILL a grace after the SIGTERM, while the pool stays open', async () => {
    const { pool, events } = createPool(nodeFixture('ignores-sigterm.mjs'), { timeout: 1000 });
    // It has answered, so the 1 s timeout applies to "hang" (a first answer would get startTimeout).
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('warm');
    const [hung] = pool.stats().processes;
    expect(await outcomeOf(pool.transform(new Response('hang')))).toBe('rejected ERR_TRANSFORM_TIMEOUT');
    // About 1 s of grace on a quiet machine.
    expect(await waitFor(() => exitsOf(events).length === 1, 10_000)).toBe(true);
    expect(exitsOf(events)).toMatchObject([{ pid: hung?.pid, signal: 'SIGKILL', reason: 'timeout' }]);
    expect(isRunning(hung?.pid as number)).toBe(false);
    expect(await outcomeOf(pool.transform(new Response('after')))).toBe('after');
  });
});

describe('an abandoned answer', () => {
  // Defect: Exchange.onBody() ignores DRAIN_MAX_BYTES while discarding, so only the 1 s drain timer ends it.
  it('is drained at most 1 MiB: an endless one gets its process killed and replaced', async () => {
    const { pool, events, log } = createPool(nodeFixture('endless-counted.mjs'));
    const response = await pool.transform(new Response('endless'));
    const [endless] = pool.stats().processes;
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    // The process tells how much of its answer was read when the SIGTERM came: the 1 MiB bound and
    // what the pipes and the reader's queue held, nowhere near what a second of draining at pipe speed takes.
    expect(await waitFor(() => log.lines.some((line) => line.startsWith('wrote ')), 10_000)).toBe(true);
    const wrote = Number(log.lines.find((line) => line.startsWith('wrote '))?.slice('wrote '.length));
    expect(wrote).toBeGreaterThan(1 * MiB);
    expect(wrote).toBeLessThan(8 * MiB);
    expect(await outcomeOf(pool.transform(new Response('after')))).toBe('after');
    expect(await waitFor(() => exitsOf(events).length === 1, 10_000)).toBe(true);
    expect(exitsOf(events)).toMatchObject([{ pid: endless?.pid, reason: 'abort' }]);
  });

  // Defect: Exchange.onDone() leaves the drain timer running; it fires later and kills the process.
  it('drained in time leaves no timer behind to kill its process during the next transform', async () => {
    // "slow" is answered 2.5 s after it is read: past the 1 s a drain may take, counted from the abort.
    const { pool, events } = createPool(nodeFixture('slow-head.mjs'), { env: { SLOW_MS: '2500' } });
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('warm');
    const [kept] = pool.stats().processes;
    const controller = new AbortController();
    const left = outcomeOf(pool.transform(new Response('left'), { signal: controller.signal }));
    // The process has the message already: its answer is drained, and it is kept.
    controller.abort();
    expect(await left).toBe('rejected ERR_TRANSFORM_ABORTED');
    expect(await outcomeOf(pool.transform(new Response('slow')))).toBe('slow');
    expect(pool.stats().processes).toMatchObject([{ pid: kept?.pid, transforms: 3 }]);
    expect(exitsOf(events)).toEqual([]);
  });
});

describe('a message is never read twice', () => {
  // Defect: TransformProcess retries a message whose process stopped with code 0 even after output began.
  it('when its answer had begun, it fails and is not retried on another process', async () => {
    const reads = logFile();
    const { pool } = createPool(nodeFixture('logs-reads.mjs'), { env: { LOG_FILE: reads } });
    expect(await outcomeOf(pool.transform(new Response('PARTIAL')))).toMatch(
      /^rejected ERR_TRANSFORM_(EXIT|PROTOCOL)$/,
    );
    // A retry would have been read before the transform failed for good.
    expect(linesOf(reads)).toHaveLength(1);
  });

  // Defect: Exchange.onFailed() retries whatever was read of the handler's body (no `#taken <= 1`).
  it('when its streamed body was partly written, it fails and is not retried on another process', async () => {
    const reads = logFile();
    const { pool } = createPool(nodeFixture('logs-reads.mjs'), { env: { LOG_FILE: reads } });
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode('first part'));
        // The second part only once the process has read the first, and the third once it exited.
        await waitFor(() => linesOf(reads).length === 1, 10_000);
        controller.enqueue(encoder.encode('<stop>'));
        await waitFor(() => pool.stats().exited === 1, 10_000);
        try {
          controller.enqueue(encoder.encode('third part'));
          controller.close();
        } catch {
          // Cancelled: the transform failed, as it must.
        }
      },
    });
    expect(await outcomeOf(pool.transform(new Response(body)))).toBe('rejected ERR_TRANSFORM_EXIT');
    expect(linesOf(reads)).toHaveLength(1);
    expect(pool.stats()).toMatchObject({ started: 2, exited: 1 });
  });
});

describe('stats()', () => {
  // Defects: a failure reported twice (a Transform-Error then its timeout, a body error then the exit).
  it('counts each transform once: ok, failed and timed out, exactly, after failures of every kind', async () => {
    const { pool } = createPool(nodeFixture('misbehaves.mjs'), { timeout: 1000 });
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

describe('a Transform-Error answer', () => {
  // Defect: the silence timer stops at a Transform-Error head, so a stalled discard is never timed out.
  it('that stalls mid-body is killed after `timeout` and replaced', async () => {
    const { pool, events } = createPool(nodeFixture('misbehaves.mjs'), { timeout: 1000 });
    const warm = await answerOf(pool, 'warm');
    // The caller hears at once; the process is still discarding the body it stalls in.
    expect(await outcomeOf(pool.transform(new Response('error-stall')))).toBe(
      'rejected ERR_TRANSFORM_FAILED',
    );
    // About 1 s of silence, then the kill: ten times that at most.
    expect(await waitFor(() => exitsOf(events).length === 1, 10_000)).toBe(true);
    const next = await answerOf(pool, 'next');
    expect(next.text).toBe('next');
    expect(next.pid).not.toBe(warm.pid);
    expect(exitsOf(events)).toMatchObject([{ pid: Number(warm.pid), reason: 'timeout' }]);
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 1 });
  });
});

describe('the timeout counts the transform’s silence, not the handler’s', () => {
  // Defect: SilenceTimer.resume() does not restart the count, so a handler's pause counts as the
  // transform's silence.
  it('a handler body that pauses longer than `timeout`, then a prompt answer: it succeeds', async () => {
    const timeout = 2000;
    // "slow" is answered 200 ms after it is read: a tenth of the timeout.
    const { pool, events } = createPool(nodeFixture('slow-head.mjs'), {
      timeout,
      env: { SLOW_MS: '200' },
    });
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('warm');
    let finish!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('sl'));
        finish = () => {
          controller.enqueue(encoder.encode('ow'));
          controller.close();
        };
      },
    });
    const result = outcomeOf(pool.transform(new Response(body)));
    // The pool checks the silence every `timeout` while the handler pauses, from when the transform began
    // (just now). The body ends 50 ms before its second check, timed from the first with the same timers:
    // a pause that counted would fail the transform at that check, before its answer could come.
    setTimeout(() => setTimeout(finish, timeout - 50), timeout);
    expect(await result).toBe('slow');
    expect(exitsOf(events)).toEqual([]);
    expect(pool.stats()).toMatchObject({ ok: 2, timedOut: 0 });
  });
});
