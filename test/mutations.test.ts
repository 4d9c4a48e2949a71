// Defects an earlier suite let through, each pinned by a property a defective pool breaks: bytes lost to a
// slow reader, output buffered without bound for a late one, a process running two transforms at once,
// a broken process kept in service.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTransformPool, type TransformPool } from '../src/index.ts';
import { exists, nodeFixture, sleep, track, waitFor } from './_utils.ts';

const MiB = 1024 * 1024;

function createPool(command: string | string[], timeout = 30_000, pipeline = 4): TransformPool {
  return track(createTransformPool({ command, processes: 1, timeout, pipeline, stderr: 'ignore' }));
}

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

async function outcomeOf(promise: Promise<Response>): Promise<string> {
  try {
    return await (await promise).text();
  } catch (error) {
    return `rejected ${(error as { code?: string }).code ?? String(error)}`;
  }
}

describe('output reaches a slow or late reader whole', () => {
  it('8 MiB through cat, read with a pause every 64 KiB, arrives byte for byte', async () => {
    const pool = createPool('cat');
    const input = randomBytes(8 * MiB);
    const response = await pool.transform(new Response(input));
    const output = await digest(response.body, () => sleep(1));
    expect(output.bytes).toBe(input.byteLength);
    expect(output.hash).toBe(createHash('sha256').update(input).digest('hex'));
  }, 120_000);

  it('64 MiB through cat, read only after 200 ms, arrives whole while memory stays bounded', async () => {
    const pool = createPool('cat');
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

describe('one process holds at most `pipeline` transforms at a time', () => {
  /**
   * 32 transforms from 4 clients on one process. Each client sends its next transform the moment its last
   * one is answered: new work arrives just as the process hands off to queued work, when a process also put
   * back on the idle list would take it. Returns each token with its outcome, and the most messages the
   * process held unanswered at once.
   */
  async function runClients(pipeline: number): Promise<{ results: [string, string][]; most: number }> {
    const pool = createPool(nodeFixture('in-flight.mjs'), 30_000, pipeline);
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

describe('a broken process is replaced', () => {
  it('after a protocol error the next transform runs on a new pid and the old one is gone', async () => {
    const pool = createPool(nodeFixture('pid-faults.mjs'));
    const first = await outcomeOf(pool.transform(new Response('pid')));
    expect(first).toMatch(/^\d+$/);
    expect(await outcomeOf(pool.transform(new Response('garbage')))).toBe('rejected ERR_TRANSFORM_PROTOCOL');
    const second = await outcomeOf(pool.transform(new Response('pid')));
    expect(second).toMatch(/^\d+$/);
    expect(second).not.toBe(first);
    expect(await waitFor(() => !exists(Number(first)), 10_000)).toBe(true);
  }, 60_000);

  it('after a timeout the next transform runs on a new pid and the old one is gone', async () => {
    const pool = createPool(nodeFixture('pid-faults.mjs'), 3000);
    const first = await outcomeOf(pool.transform(new Response('pid')));
    expect(first).toMatch(/^\d+$/);
    expect(await outcomeOf(pool.transform(new Response('hang')))).toBe('rejected ERR_TRANSFORM_TIMEOUT');
    const second = await outcomeOf(pool.transform(new Response('pid')));
    expect(second).toMatch(/^\d+$/);
    expect(second).not.toBe(first);
    expect(await waitFor(() => !exists(Number(first)), 10_000)).toBe(true);
  }, 60_000);
});
