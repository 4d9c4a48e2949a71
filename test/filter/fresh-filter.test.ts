// One fresh filter per response, whether it was started ahead or not, with exactly its own request's context:
// many responses at once across several filter children, each answered by a process no other response saw.
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createTransformPool, type ProcessEvent, type TransformPool } from '../../src/index.ts';
import { track, waitFor } from '../_utils.ts';

/** Prints its body, its pid and the two variables, `-` for one that is not set at all. */
const PRINT_CONTEXT = [
  'sh',
  '-c',
  'cat; echo " $$ $(printenv TRANSFORM_REQUEST_METHOD || echo -) $(printenv TRANSFORM_REQUEST_URL || echo -)"',
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];

function createPool(options: { requestContext?: false; processes?: number }): {
  pool: TransformPool;
  events: ProcessEvent[];
} {
  const events: ProcessEvent[] = [];
  const pool = track(
    createTransformPool({
      command: PRINT_CONTEXT,
      protocol: 'body',
      processes: 2,
      ...options,
      onEvent: (event) => events.push(event),
    }),
  );
  return { pool, events };
}

/** Response `index`'s request: every third has none; the others each a method and URL of their own. */
function requestFor(index: number): Request | undefined {
  if (index % 3 === 2) return undefined;
  return new Request(`http://example.test/item/${index}?q=${index}`, { method: METHODS[index % 4] });
}

/** `count` responses at once, `rounds` times; each output split into body, pid, method, URL. */
async function runBursts(pool: TransformPool, count: number, rounds: number): Promise<string[][]> {
  const outputs: string[][] = [];
  for (let round = 0; round < rounds; round++) {
    const texts = await Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const response = await pool.transform(new Response(`body-${index}`), { request: requestFor(index) });
        return response.text();
      }),
    );
    for (const text of texts) outputs.push(text.trim().split(' '));
  }
  return outputs;
}

describe('a fresh body filter per response', () => {
  it('with the request context: each of 36 responses, 12 at a time, sees exactly its own, in a process of its own', async () => {
    const { pool, events } = createPool({});
    const outputs = await runBursts(pool, 12, 3);
    expect(outputs.map(([body, , method, url]) => [body, method, url])).toEqual(
      Array.from({ length: 3 }, () =>
        Array.from({ length: 12 }, (_, index) => {
          const request = requestFor(index);
          return [`body-${index}`, request?.method ?? '-', request?.url ?? '-'];
        }),
      ).flat(),
    );
    const pids = outputs.map(([, pid]) => Number(pid));
    expect(new Set(pids).size).toBe(36);
    // Every one a filter the pool reported starting: no process outside the filters answered.
    const spawned = new Set(events.filter((event) => event.type === 'spawn').map((event) => event.pid));
    expect(pids.filter((pid) => !spawned.has(pid))).toEqual([]);
  });

  it('with requestContext: false: no variable at all, and still a process of its own for each of 36', async () => {
    const { pool, events } = createPool({ requestContext: false });
    const outputs = await runBursts(pool, 12, 3);
    expect(outputs.map(([body, , method, url]) => [body, method, url])).toEqual(
      Array.from({ length: 36 }, (_, index) => [`body-${index % 12}`, '-', '-']),
    );
    const pids = outputs.map(([, pid]) => Number(pid));
    expect(new Set(pids).size).toBe(36);
    const spawned = new Set(events.filter((event) => event.type === 'spawn').map((event) => event.pid));
    expect(pids.filter((pid) => !spawned.has(pid))).toEqual([]);
  });

  it('runs, unless processes says otherwise, four filters per core at once, and queues the rest', async () => {
    const pool = track(createTransformPool({ command: ['cat'], protocol: 'body' }));
    const cap = 4 * availableParallelism();
    const controllers: ReadableStreamDefaultController<Uint8Array>[] = [];
    const results = Array.from({ length: cap + 2 }, () =>
      pool.transform(
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controllers.push(controller);
            },
          }),
        ),
      ),
    );
    expect(await waitFor(() => pool.stats().busy === cap && pool.stats().queued === 2, 60_000)).toBe(true);
    expect(pool.stats().alive).toBe(cap);
    for (const [index, controller] of controllers.entries()) {
      controller.enqueue(new TextEncoder().encode(`${index}`));
      controller.close();
    }
    const texts = await Promise.all(results.map(async (result) => (await result).text()));
    expect(texts).toEqual(Array.from({ length: cap + 2 }, (_, index) => `${index}`));
  }, 120_000);
});
