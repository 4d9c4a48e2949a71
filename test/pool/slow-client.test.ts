// No client holds a process: an answer is buffered in the parent up to `clientBuffer`, so a process whose
// answer fits serves others while its client reads slowly; one whose client reads nothing past
// `clientTimeout` ends that response (aborted, never failed) and is drained or replaced. Over HTTP, under
// each runtime's server: slow-client-servers.test.ts; body filters: test/filter/; the CLI: test/cli/.
import { describe, expect, it } from 'vitest';
import { createTransformPool, type PoolOptions, type TransformError } from '../../src/index.ts';
import { nodeFixture, sleep, track, waitFor, within } from '../_utils.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The body large-answer.mjs writes for `size` bytes: 16 KiB chunks of 'a', 'b', ... */
function expectedLargeBody(size: number): Buffer {
  const body = Buffer.alloc(size);
  for (let at = 0, k = 0; at < size; at += 16 * KiB, k++)
    body.fill(97 + (k % 26), at, Math.min(size, at + 16 * KiB));
  return body;
}

/** A pool of large-answer.mjs processes, with the bytes each could write so far (`took`, by pid). */
function createLargeAnswerPool(options: Partial<PoolOptions>) {
  const took = new Map<number, number>();
  const pool = track(
    createTransformPool({
      command: nodeFixture('large-answer.mjs'),
      processes: 1,
      ...options,
      stderr: (line, { pid }) => {
        const match = /^took (\d+)$/.exec(line);
        if (match) took.set(pid, Number(match[1]));
      },
    }),
  );
  return { pool, took };
}

/** How a body the test never reads ends: its error, or 'still waiting' if it has not ended in 20 s. */
function endOf(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<unknown> {
  return within(
    reader.closed.then(
      () => 'closed',
      (reason: unknown) => reason,
    ),
    20_000,
  );
}

const pidOf = (response: Response): number => Number(response.headers.get('x-pid'));

describe('a client that reads slowly or not at all', () => {
  it('holds no process once its whole answer fits in clientBuffer (1 MiB by default)', async () => {
    const { pool } = createLargeAnswerPool({ clientTimeout: 0 });
    const unread = await pool.transform(new Response(String(512 * KiB)));
    // The one process serves the next transform while nobody reads the first answer.
    const next = await within(pool.transform(new Response('next')), 20_000);
    expect(next).toBeInstanceOf(Response);
    const served = next as Response;
    expect(await served.text()).toBe('next');
    expect(pidOf(served)).toBe(pidOf(unread));
    expect(Buffer.from(await unread.arrayBuffer()).equals(expectedLargeBody(512 * KiB))).toBe(true);
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 0, aborted: 0, started: 1 });
  });

  it('buffers at most clientBuffer of an answer, then ends it past clientTimeout as aborted, and replaces the process', async () => {
    const clientBuffer = 256 * KiB;
    const { pool, took } = createLargeAnswerPool({ clientBuffer, clientTimeout: 300 });
    const response = await pool.transform(new Response(String(8 * MiB)));
    const pid = pidOf(response);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const error = (await endOf(reader)) as TransformError;
    // The output was paused when the bound fired: what the process could write is the buffer, plus what
    // the pipe and the parent's read of it hold (64 KiB each), never the 8 MiB answer.
    const written = took.get(pid) ?? 0;
    expect(written).toBeLessThan(clientBuffer + 512 * KiB);
    expect(error.code).toBe('ERR_TRANSFORM_ABORTED');
    expect(error.message).toContain('read nothing for 300 ms (clientTimeout)');
    // The rest of the answer is past the drain bound (1 MiB): the process is replaced, never handed on.
    const next = await pool.transform(new Response('next'));
    expect(await next.text()).toBe('next');
    expect(pidOf(next)).not.toBe(pid);
    expect(pool.stats()).toMatchObject({ ok: 1, failed: 0, aborted: 1, started: 2 });
  });

  it('drains and keeps the process when the rest of an abandoned answer is within the drain bound', async () => {
    const { pool } = createLargeAnswerPool({ clientBuffer: 64 * KiB, clientTimeout: 300 });
    const response = await pool.transform(new Response(String(384 * KiB)));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const error = (await endOf(reader)) as TransformError;
    expect(error.code).toBe('ERR_TRANSFORM_ABORTED');
    const next = await pool.transform(new Response('next'));
    expect(await next.text()).toBe('next');
    expect(pidOf(next)).toBe(pidOf(response));
    expect(pool.stats()).toMatchObject({ ok: 1, failed: 0, aborted: 1, started: 1 });
  });

  it('answers a message written behind an answer its client never reads, once that answer is ended', async () => {
    const { pool } = createLargeAnswerPool({ pipeline: 4, clientBuffer: 64 * KiB, clientTimeout: 300 });
    // A process that has answered before takes a message behind another one.
    expect(await (await pool.transform(new Response('warm'))).text()).toBe('warm');
    const held = pool.transform(new Response(String(8 * MiB)));
    const behind = pool.transform(new Response('behind'));
    const error = (await endOf(
      ((await held).body as ReadableStream<Uint8Array>).getReader(),
    )) as TransformError;
    expect(error.code).toBe('ERR_TRANSFORM_ABORTED');
    const answer = await within(behind, 20_000);
    expect(answer).toBeInstanceOf(Response);
    expect(await (answer as Response).text()).toBe('behind');
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 0, aborted: 1 });
  });

  it("reads the answer behind one whose last bytes filled its never-reading client's buffer", async () => {
    // The rest of the first answer fills clientBuffer and ends it in one read: that answer is whole, so nothing
    // ends it for its client, and the output must flow on for the answer behind it.
    const read: string[] = [];
    const pool = track(
      createTransformPool({
        command: nodeFixture('split-answer.mjs'),
        processes: 1,
        pipeline: 2,
        clientBuffer: KiB,
        stderr: (line) => read.push(line),
      }),
    );
    expect(await (await pool.transform(new Response('warm'))).text()).toBe('answered warm');
    const never = await pool.transform(new Response('split'));
    const behind = pool.transform(new Response('hold'));
    expect(await waitFor(() => read.includes('read hold'), 20_000)).toBe(true);
    const [pid] = pool.stats().processes.map((entry) => entry.pid);
    process.kill(pid as number, 'SIGUSR1');
    // Let the rest arrive alone, before the answer behind it is written (were both in one read, it would be
    // parsed whatever the output's state, and this case would pass without testing it).
    await sleep(300);
    process.kill(pid as number, 'SIGUSR1');
    const answer = await within(behind, 20_000);
    expect(answer).toBeInstanceOf(Response);
    expect(await (answer as Response).text()).toBe('answered hold');
    // The first answer's client still has all of it to read.
    expect((await never.text()).length).toBe(1 + 4096);
  });

  it('gives a slow but steady reader every byte, however long the whole read takes', async () => {
    const clientTimeout = 400;
    const { pool } = createLargeAnswerPool({ clientBuffer: 64 * KiB, clientTimeout });
    const size = 2 * MiB;
    const response = await pool.transform(new Response(String(size)));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [];
    // A read every 40 ms, a tenth of the bound: the reader always makes progress within it.
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      await sleep(clientTimeout / 10);
    }
    expect(Buffer.concat(chunks).equals(expectedLargeBody(size))).toBe(true);
    // Far more reads than fit in one bound: the whole read outlasted clientTimeout many times over.
    expect(chunks.length * (clientTimeout / 10)).toBeGreaterThan(3 * clientTimeout);
    expect(pool.stats()).toMatchObject({ ok: 1, failed: 0, aborted: 0 });
  });
});

describe('the slow-client bound options', () => {
  const make = (options: Record<string, unknown>) => () =>
    track(createTransformPool({ command: 'cat', processes: 1, ...options } as PoolOptions));

  it.each([
    [{ clientBuffer: '1mb' }, TypeError, 'Expected `clientBuffer` to be a number of bytes, got "1mb"'],
    [{ clientBuffer: Number.NaN }, TypeError, 'Expected `clientBuffer` to be a number of bytes, got NaN'],
    [
      { clientBuffer: -1 },
      RangeError,
      'Expected `clientBuffer` to be a non-negative integer or Infinity, got -1',
    ],
    [
      { clientBuffer: 1.5 },
      RangeError,
      'Expected `clientBuffer` to be a non-negative integer or Infinity, got 1.5',
    ],
    [{ clientTimeout: '5s' }, TypeError, 'Expected `clientTimeout` to be a number, got "5s"'],
    [{ clientTimeout: -5 }, RangeError, 'Expected `clientTimeout` to be a non-negative integer, got -5'],
    [{ clientTimeOut: 5 }, TypeError, 'Unknown option "clientTimeOut": did you mean "clientTimeout"?'],
    [{ clientbuffer: 5 }, TypeError, 'Unknown option "clientbuffer": did you mean "clientBuffer"?'],
  ])('refuses %o', (options, type, message) => {
    expect(make(options)).toThrow(type);
    expect(make(options)).toThrow(message);
  });

  it.each([
    [{ clientBuffer: 0, clientTimeout: 0 }],
    [{ clientBuffer: Number.POSITIVE_INFINITY }],
    [{}],
  ])('accepts %o', (options) => {
    expect(make(options)).not.toThrow();
  });
});
