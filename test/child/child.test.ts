// serveTransform's input loop, through real processes: bodies of every size against every reading pace, on
// one process, so a stalled input shows up as a lost answer instead of passing on a fresh process.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createTransformPool, type TransformPool } from '../../src/index.ts';
import { CHILD_RUNTIMES } from '../_child-runtimes.ts';
import { answerOf, createObservedPool, fixture, nodeFixture, track } from '../_utils.ts';
import { createRandom } from '../wire/cases.ts';

const MiB = 1024 * 1024;

/** The queue of a body the transform has not read yet holds this much before input pauses. */
const QUEUE_BYTES = 64 * 1024;
const MIXED_SIZES = [10, 100_000, 200_000, 1024 * 1024];

const bodies = new Map<number, Uint8Array<ArrayBuffer>>();
function bodyOf(size: number): Uint8Array<ArrayBuffer> {
  let body = bodies.get(size);
  if (body === undefined) {
    body = new Uint8Array(randomBytes(size));
    bodies.set(size, body);
  }
  return body;
}

/** `count` sizes drawn from `sizes` in a seeded random order. */
function shuffleSizes(sizes: number[], count: number, seed: number): number[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, () => sizes[random(sizes.length)] as number);
}

/** Size and digest, so a mismatch prints two short lines instead of a megabyte. */
function describeBytes(bytes: Uint8Array): { size: number; sha256: string } {
  return { size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

function startPool(name: string): TransformPool {
  // Generous: a stalled input would still fail, by a timeout error, and a slow machine never does.
  return track(createTransformPool({ command: nodeFixture(name), processes: 1, timeout: 30_000 }));
}

/** Send a body of `size` bytes; the answer's bytes and the pid that wrote them. */
async function send(pool: TransformPool, size: number): Promise<{ bytes: Uint8Array; pid: string | null }> {
  const response = await pool.transform(new Response(bodyOf(size), { headers: { 'x-size': String(size) } }));
  return { bytes: new Uint8Array(await response.arrayBuffer()), pid: response.headers.get('x-pid') };
}

async function expectOneProcess(pool: TransformPool, pids: Set<string | null>): Promise<void> {
  expect(pids.size).toBe(1);
  expect(pool.stats()).toMatchObject({ started: 1, exited: 0, failed: 0 });
}

describe('serveTransform input', () => {
  it('echoes 10 B, 100 KB, 200 KB and 1 MiB bodies in random order byte-exact on one process', async () => {
    const pool = startPool('serve-echo.mjs');
    const pids = new Set<string | null>();
    for (const size of shuffleSizes(MIXED_SIZES, 48, 1)) {
      const { bytes, pid } = await send(pool, size);
      pids.add(pid);
      expect(describeBytes(bytes)).toEqual(describeBytes(bodyOf(size)));
    }
    await expectOneProcess(pool, pids);
  });

  it('drains bodies a transform answers without reading', async () => {
    const pool = startPool('serve-unread.mjs');
    const pids = new Set<string | null>();
    for (const size of shuffleSizes([...MIXED_SIZES, QUEUE_BYTES], 32, 2)) {
      const { bytes, pid } = await send(pool, size);
      pids.add(pid);
      expect(Buffer.from(bytes).toString()).toBe(`unread ${size}`);
    }
    await expectOneProcess(pool, pids);
  });

  it('waits for a transform that starts reading its body 20 ms late', async () => {
    const pool = startPool('serve-late.mjs');
    const pids = new Set<string | null>();
    for (const size of shuffleSizes(MIXED_SIZES, 32, 3)) {
      const { bytes, pid } = await send(pool, size);
      pids.add(pid);
      expect(describeBytes(bytes)).toEqual(describeBytes(bodyOf(size)));
    }
    await expectOneProcess(pool, pids);
  });

  it('goes on after a body whose last chunk exactly fills the queue', async () => {
    // Nothing reads the body before it is complete, so its last chunk brings the queue to exactly full.
    for (const name of ['serve-unread.mjs', 'serve-late.mjs']) {
      const pool = startPool(name);
      const pids = new Set<string | null>();
      for (const size of [QUEUE_BYTES, 10, QUEUE_BYTES, QUEUE_BYTES, 10]) {
        const { bytes, pid } = await send(pool, size);
        pids.add(pid);
        const expected = name === 'serve-unread.mjs' ? Buffer.from(`unread ${size}`) : bodyOf(size);
        expect(describeBytes(bytes)).toEqual(describeBytes(expected));
      }
      await expectOneProcess(pool, pids);
    }
  });

  it('keeps serving on the same process after clients leave mid-stream many times', async () => {
    const pool = startPool('serve-echo.mjs');
    const random = createRandom(4);
    const pids = new Set<string | null>();
    for (const size of shuffleSizes([10, 100_000, 200_000, QUEUE_BYTES], 120, 5)) {
      const response = await pool.transform(new Response(bodyOf(size)));
      pids.add(response.headers.get('x-pid'));
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      // Leave before the first byte, after one chunk, or after two.
      for (let reads = random(3); reads > 0; reads--) await reader.read();
      await reader.cancel();
    }
    for (const size of shuffleSizes(MIXED_SIZES, 8, 6)) {
      const { bytes, pid } = await send(pool, size);
      pids.add(pid);
      expect(describeBytes(bytes)).toEqual(describeBytes(bodyOf(size)));
    }
    expect(pids.size).toBe(1);
    expect(pool.stats()).toMatchObject({ started: 1, exited: 0 });
  });

  it('stops an answer whose body trickles forever, and exits, once its reader closed stdout', async () => {
    // process.stdout takes writes after an EPIPE as if nothing happened: only its error event says so.
    const [command = '', ...args] = nodeFixture('serve-trickle.mjs');
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    // Reaped however the test ends: a `finally` never runs once the test has timed out on an await.
    onTestFinished(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    child.stdin.write('HTTP/1.1 200 OK\r\nTransform-Request-Id: a\r\nContent-Length: 0\r\n\r\n');
    await once(child.stdout, 'data');
    child.stdout.destroy();
    child.stdin.end();
    // It exits on its own (in well under a second), not by the kill after the test once it timed out.
    const [, signal] = await exited;
    expect(signal).toBeNull();
  }, 15_000);
});

describe('a transform that returns a body nobody can read', () => {
  // Nothing was written when the body turned out unreadable: the answer can still be a Transform-Error.
  for (const { runtime, argv } of CHILD_RUNTIMES) {
    it(`answers a locked or failing body with Transform-Error, and the same process goes on serving, under ${runtime}`, async () => {
      const reasons: string[] = [];
      const pool = track(
        createTransformPool({
          command: [...argv, fixture('serve-locked.mjs')],
          processes: 1,
          stderr: 'ignore',
          onEvent: (event) => {
            if (event.type === 'transform-error') reasons.push(event.reason);
          },
        }),
      );
      const pids = new Set<string | null>();
      // The last body is still arriving when the transform answers: the rest is drained. (A text() left
      // pending on such a body is rejected then, and a transform that never awaits it dies of its own
      // unhandled rejection: only a body that came whole is given to text() here.)
      const sends = [
        { lock: 'reader', body: 'locked by a reader' },
        { lock: 'text', body: 'locked by text()' },
        { lock: 'error', body: 'failing at once' },
        { lock: 'reader', body: bodyOf(1024 * 1024) },
      ];
      for (const { lock, body } of sends) {
        const error = await pool.transform(new Response(body, { headers: { 'x-lock': lock } })).then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(error).toMatchObject({ code: 'ERR_TRANSFORM_FAILED' });
        // The same process answers next, byte-exact.
        const response = await pool.transform(new Response(`after ${lock}`));
        pids.add(response.headers.get('x-pid'));
        expect(await response.text()).toBe(`after ${lock}`);
      }
      expect(reasons).toEqual([
        expect.stringMatching(/^Its response body cannot be read: .*locked/i),
        expect.stringMatching(/^Its response body cannot be read: .*locked/i),
        'Its response body cannot be read: no bytes',
        expect.stringMatching(/^Its response body cannot be read: .*locked/i),
      ]);
      expect(pids.size).toBe(1);
      expect(pool.stats()).toMatchObject({ started: 1, exited: 0, ok: sends.length });
    });
  }
});

describe('serveTransform', () => {
  // Defect: MessageReader's body source ignores a cancel, so input paused for that body stays paused.
  it('serves the next message after the transform cancelled a body its input was paused for', async () => {
    // The message stays unread until the transform reads the rest of it: it must, within 10 s.
    const { pool } = createObservedPool(nodeFixture('serve-cancel.mjs'), { timeout: 10_000 });
    const big = new Response(new Uint8Array(4 * MiB).fill(0x61), { headers: { 'x-cancel': '1' } });
    const cancelled = await pool.transform(big);
    expect(await cancelled.text()).toBe('cancelled');
    const next = await answerOf(pool, 'next');
    expect(next.text).toBe('next');
    expect(next.pid).toBe(cancelled.headers.get('x-pid'));
    expect(pool.stats()).toMatchObject({ started: 1, exited: 0, ok: 2, failed: 0, timedOut: 0 });
  });
});
