// A transform's output reaches a slow or late reader whole, and the pool never buffers it without bound: each
// test pins a defect an earlier suite let through (bytes lost to a slow reader, output buffered for a late one,
// a process handed on while its last chunk still waited for a reader).
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTransformPool } from '../../src/index.ts';
import { createPool, outcomeOf, sleep, track } from '../_utils.ts';

const MiB = 1024 * 1024;

/** Read a body to its end; `pause` runs after every 64 KiB. Returns the SHA-256 and the byte count. */
async function digest(
  body: ReadableStream<Uint8Array> | null,
  pause?: () => Promise<void>,
): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let sincePause = 0;
  if (body !== null) {
    for await (const chunk of body) {
      hash.update(chunk);
      bytes += chunk.byteLength;
      sincePause += chunk.byteLength;
      if (pause !== undefined && sincePause >= 64 * 1024) {
        sincePause = 0;
        await pause();
      }
    }
  }
  return { hash: hash.digest('hex'), bytes };
}

/**
 * A body made as it is read, so the input itself holds no memory: 64 KiB chunks of one random block, each
 * stamped with its index so a lost, repeated or reordered chunk changes the hash; `hash()` when done.
 */
function generatedBody(size: number): {
  body: ReadableStream<Uint8Array>;
  hash: () => string;
  made: () => number;
} {
  const block = randomBytes(64 * 1024);
  const hash = createHash('sha256');
  let made = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (made === size) {
        controller.close();
        return;
      }
      const chunk = Buffer.allocUnsafe(Math.min(block.byteLength, size - made));
      block.copy(chunk);
      chunk.writeUInt32BE(made / block.byteLength, 0);
      made += chunk.byteLength;
      hash.update(chunk);
      controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    },
  });
  return { body, hash: () => hash.digest('hex'), made: () => made };
}

describe('output reaches a slow or late reader whole', () => {
  it('8 MiB through cat, read with a pause every 64 KiB, arrives byte for byte', async () => {
    const pool = createPool({ command: 'cat', pipeline: 4 });
    const input = randomBytes(8 * MiB);
    const response = await pool.transform(new Response(input));
    const output = await digest(response.body, () => sleep(1));
    expect(output.bytes).toBe(input.byteLength);
    expect(output.hash).toBe(createHash('sha256').update(input).digest('hex'));
  }, 120_000);

  it('64 MiB through cat, read only after 200 ms, arrives whole while memory stays bounded', async () => {
    const pool = createPool({ command: 'cat', pipeline: 4 });
    // Warm up the process, the streams and the heap, so the baseline is what a steady server holds.
    const warm = generatedBody(8 * MiB);
    await digest((await pool.transform(new Response(warm.body))).body);
    await sleep(50);
    const baseline = process.memoryUsage.rss();
    const input = generatedBody(64 * MiB);
    const response = await pool.transform(new Response(input.body));
    // Late: 200 ms, and then until the input stops moving (it would run to its end without backpressure),
    // so a slow machine cannot hide unbounded buffering by being slow.
    await sleep(200);
    for (let last = -1, waited = 0; input.made() !== last && waited < 20_000; waited += 250) {
      last = input.made();
      await sleep(250);
    }
    const pulled = input.made();
    const growth = (process.memoryUsage.rss() - baseline) / MiB;
    const output = await digest(response.body);
    expect(output.bytes).toBe(64 * MiB);
    expect(output.hash).toBe(input.hash());
    // With nobody reading, only pipe and stream buffers may fill: a few MiB, never the whole body.
    expect(pulled / MiB).toBeLessThan(16);
    expect(growth).toBeLessThan(48);
  }, 120_000);
});

describe('a slow reader', () => {
  it('a process whose last chunk filled a slow reader is handed on with its output flowing', async () => {
    const pool = track(createTransformPool({ command: 'cat', processes: 1, timeout: 2000 }));
    const first = await pool.transform(new Response(new Uint8Array(100 * 1024).fill(97)));
    await sleep(200);
    expect((await first.arrayBuffer()).byteLength).toBe(100 * 1024);
    expect(await outcomeOf(pool.transform(new Response('hello')))).toBe('hello');
    await pool.reload();
  });
});
