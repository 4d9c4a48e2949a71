// The slow-client bound for body filters: a filter's output is buffered up to `clientBuffer`, so one that fits
// exits and frees its slot of `processes` while its client reads nothing; one that waits on a silent client
// past `clientTimeout` ends as aborted, and a stopped filter's output is read to its end, so it always closes.
import { describe, expect, it } from 'vitest';
import { createTransformPool, type PoolOptions, type TransformError } from '../../src/index.ts';
import { sleep, track, within } from '../_utils.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

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

describe("with protocol: 'body'", () => {
  /** One filter slot; the filter reads its input, then writes `bytes` zero bytes. */
  const createFilterPool = (bytes: number, options: Partial<PoolOptions>) =>
    track(
      createTransformPool({
        command: ['sh', '-c', `cat >/dev/null; head -c ${bytes} /dev/zero`],
        protocol: 'body',
        processes: 1,
        stderr: 'ignore',
        ...options,
      }),
    );

  it('frees the filter slot once its whole output fits in clientBuffer, while its client reads nothing', async () => {
    const pool = createFilterPool(512 * KiB, { clientBuffer: MiB, clientTimeout: 0 });
    const unread = await pool.transform(new Response('x'));
    const next = await within(pool.transform(new Response('x')), 20_000);
    expect(next).toBeInstanceOf(Response);
    expect((await (next as Response).arrayBuffer()).byteLength).toBe(512 * KiB);
    expect(Buffer.from(await unread.arrayBuffer()).equals(Buffer.alloc(512 * KiB))).toBe(true);
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 0, aborted: 0 });
  });

  it('ends an output its client does not read past clientTimeout, as aborted, and frees the slot', async () => {
    const pool = createFilterPool(32 * MiB, { clientBuffer: 64 * KiB, clientTimeout: 300 });
    const response = await pool.transform(new Response('x'));
    const error = (await endOf((response.body as ReadableStream<Uint8Array>).getReader())) as TransformError;
    expect(error.code).toBe('ERR_TRANSFORM_ABORTED');
    expect(error.message).toContain('read nothing for 300 ms (clientTimeout)');
    // The one slot serves the next response.
    const next = await within(pool.transform(new Response('x')), 20_000);
    expect(next).toBeInstanceOf(Response);
    expect(pool.stats()).toMatchObject({ failed: 0, aborted: 1 });
    await (next as Response).body?.cancel();
  });
});

describe("with protocol: 'body', output its client never reads", () => {
  // The two sweeps below start a pool per size: 15-16 s each on a shared core, 21-24 s pinned to a core with
  // two busy loops, too close to the default 60 s. Their bound is for a hang, not for a slow machine.
  it('frees the filter slot whatever its size: fitting, left in the pipe by a filter that exited, or blocked', async () => {
    // From 96 KiB to 320 KiB in 16 KiB steps: past the 16 KiB buffer, some sizes still fit in what the stream
    // and the paused read hold (the filter ends, ok), some leave the rest in the pipe of a filter that exited
    // (ended past clientTimeout: the rest is read and dropped), the others keep it blocked (killed).
    for (let kib = 96; kib <= 320; kib += 16) {
      const pool = track(
        createTransformPool({
          command: ['sh', '-c', `cat >/dev/null; head -c ${kib * KiB} /dev/zero`],
          protocol: 'body',
          processes: 1,
          clientBuffer: 16 * KiB,
          clientTimeout: 300,
          stderr: 'ignore',
        }),
      );
      await pool.transform(new Response('x'));
      // The one slot serves the next response while nobody reads the first.
      const next = await within(pool.transform(new Response('x')), 20_000);
      expect(next, `${kib} KiB`).toBeInstanceOf(Response);
      await (next as Response).body?.cancel();
      const { ok, aborted, failed } = pool.stats();
      expect({ kib, failed, ended: ok + aborted >= 1 }).toEqual({ kib, failed: 0, ended: true });
    }
  }, 300_000);
  it('frees the filter slot when its client cancels the body, whatever the size left in the pipe', async () => {
    for (let kib = 48; kib <= 320; kib += 16) {
      const pool = track(
        createTransformPool({
          command: ['sh', '-c', `cat >/dev/null; head -c ${kib * KiB} /dev/zero`],
          protocol: 'body',
          processes: 1,
          clientBuffer: 16 * KiB,
          clientTimeout: 0,
          stderr: 'ignore',
        }),
      );
      const response = await pool.transform(new Response('x'));
      // Time for the filter to write what fits and, for some sizes, exit (a slow machine only shifts sizes).
      await sleep(200);
      await response.body?.cancel();
      const next = await within(pool.transform(new Response('x')), 20_000);
      expect(next, `${kib} KiB`).toBeInstanceOf(Response);
      await (next as Response).body?.cancel();
    }
  }, 300_000);
});
