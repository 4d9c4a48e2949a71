// Defects found in review, each reproduced with real processes before it was fixed.
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTransformPool, TransformError, withTransform } from '../src/index.ts';
import { nodeFixture, StderrLines, sleep, track, waitFor } from './_utils.ts';

const encoder = new TextEncoder();

function outcomeOf(promise: Promise<Response>): Promise<string> {
  return promise.then(
    (response) => response.text(),
    (error: TransformError) => `rejected ${error.code}`,
  );
}

describe('regressions', () => {
  it('a process whose last chunk filled a slow reader is handed on with its output flowing', async () => {
    const pool = track(createTransformPool({ command: 'cat', processes: 1, timeout: 2000 }));
    const first = await pool.transform(new Response(new Uint8Array(100 * 1024).fill(97)));
    await sleep(200);
    expect((await first.arrayBuffer()).byteLength).toBe(100 * 1024);
    expect(await outcomeOf(pool.transform(new Response('hello')))).toBe('hello');
    await pool.reload();
  });

  it('a transform in flight when close() times out is settled, not requeued', async () => {
    const pool = createTransformPool({
      command: ['sleep', '30'],
      processes: 1,
      timeout: 0,
      stderr: 'ignore',
    });
    const pending = outcomeOf(pool.transform(new Response(new Uint8Array(512 * 1024))));
    await sleep(100);
    await pool.close({ timeout: 300 });
    expect(await pending).toMatch(/^rejected ERR_TRANSFORM_(EXIT|CLOSED)$/);
    expect(pool.stats()).toMatchObject({ alive: 0, queued: 0 });
  });

  it('a retried streaming body reaches the new process whole', async () => {
    const lines: string[] = [];
    const pool = track(
      createTransformPool({
        command: nodeFixture('closes-stdin-when-idle.mjs'),
        processes: 1,
        stderr: (line) => lines.push(line),
      }),
    );
    expect(await outcomeOf(pool.transform(new Response('close')))).toBe('close');
    expect(await waitFor(() => lines.includes('stdin closed'))).toBe(true);
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode('A'));
        // The rest only once the pool has seen the dead process exit: a transform is retried only while no
        // more of the body was read than it can send again, and noticing the exit took over 100 ms under load.
        await waitFor(() => pool.stats().exited === 1);
        for (const part of ['B', 'C']) {
          controller.enqueue(encoder.encode(part));
          await sleep(100);
        }
        controller.close();
      },
    });
    expect(await outcomeOf(pool.transform(new Response(body)))).toBe('ABC');
    expect(pool.stats()).toMatchObject({ started: 2, failed: 0 });
  });

  it('an input that crashes its process is not sent to another one', async () => {
    const log = join(mkdtempSync(join(tmpdir(), 'st-')), 'crashes');
    appendFileSync(log, '');
    const pool = track(
      createTransformPool({
        command: ['sh', '-c', `head -c 1000 >/dev/null; echo "$$" >> ${log}; exit 3`],
        processes: 1,
        stderr: 'ignore',
      }),
    );
    expect(await outcomeOf(pool.transform(new Response(new Uint8Array(512 * 1024))))).toBe(
      'rejected ERR_TRANSFORM_EXIT',
    );
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('a replaced transformed response releases its process', async () => {
    const handler = track(
      withTransform(() => new Response(new Uint8Array(512 * 1024).fill(97)), {
        command: 'cat',
        processes: 1,
        timeout: 1000,
        afterTransform: () => new Response('replaced'),
      }),
    );
    expect(await outcomeOf(handler(new Request('http://t/')))).toBe('replaced');
    expect(await outcomeOf(handler(new Request('http://t/')))).toBe('replaced');
    // The dropped body is cancelled: the process drains what is left of it, then is idle again.
    expect(await waitFor(() => handler.pool.stats().busy === 0)).toBe(true);
    expect(handler.pool.stats()).toMatchObject({ timedOut: 0, started: 1 });
  });

  it('a slow handler body is not the transform timing out', async () => {
    const log = new StderrLines();
    const pool = track(
      createTransformPool({
        command: nodeFixture('upper.mjs'),
        processes: 1,
        timeout: 500,
        ...log.options(),
      }),
    );
    // The handler's pauses are what must not count: a cold start must not count either.
    await log.allReady(pool);
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        for (let i = 0; i < 8; i++) {
          controller.enqueue(encoder.encode(`part${i} `));
          await sleep(150);
        }
        controller.close();
      },
    });
    expect(await outcomeOf(pool.transform(new Response(body)))).toBe(
      'PART0 PART1 PART2 PART3 PART4 PART5 PART6 PART7 ',
    );
    expect(pool.stats().exited).toBe(0);
  });

  it('bytes after a message fail it, even when its head was handed out, and it is counted once', async () => {
    const pool = track(
      createTransformPool({ command: nodeFixture('garbage-after-body.mjs'), processes: 1, stderr: 'ignore' }),
    );
    const response = await pool.transform(new Response('x'));
    const error = await response.text().then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(TransformError);
    expect((error as TransformError).code).toBe('ERR_TRANSFORM_PROTOCOL');
    expect(await waitFor(() => pool.stats().failed === 1)).toBe(true);
    expect(pool.stats()).toMatchObject({ ok: 0, failed: 1 });
  });

  it('a refused transform cancels the handler body it will not send', async () => {
    let cancelled = 0;
    const handler = track(
      withTransform(
        () =>
          new Response(
            new ReadableStream({
              pull() {},
              cancel() {
                cancelled++;
              },
            }),
          ),
        { command: ['sleep', '30'], processes: 1, maxQueue: 0, timeout: 0, stderr: 'ignore' },
      ),
    );
    const first = handler(new Request('http://t/'));
    first.catch(() => {});
    // The one process has the first: the second finds no process and no room in the queue.
    expect(await waitFor(() => handler.pool.stats().busy === 1)).toBe(true);
    const refused = await handler(new Request('http://t/'));
    expect(refused.status).toBe(503);
    expect(cancelled).toBe(1);
  });
});
