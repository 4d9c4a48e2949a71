// At the default options a raw transform (one that never announced it frames by construction) holds one
// client's message at a time, so no misbehaviour of one message can reach another client: not its bytes, not
// its failure, not a second read. Each test names the row of the isolation table it guards.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTransformPool, type PoolOptions } from '../../src/index.ts';
import { AnsweredIds, MAX_ANSWERED_IDS } from '../../src/pool/request-id.ts';
import { nodeFixture, track } from '../_utils.ts';

let folder: string | undefined;
afterEach(() => {
  if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  folder = undefined;
});

/** A pool of mixes-clients.mjs processes, and the log of every message they read. */
function createMixPool(options: Partial<PoolOptions> = {}) {
  folder = mkdtempSync(join(tmpdir(), 'safe-defaults-'));
  const log = join(folder, 'reads.log');
  const pool = track(
    createTransformPool({
      command: nodeFixture('mixes-clients.mjs'),
      processes: 1,
      stderr: 'ignore',
      onEvent: () => {},
      env: { READ_LOG: log },
      ...options,
    }),
  );
  /** Each read: the body, and how many messages its process held unanswered then (this one included). */
  const reads = (): [string, number][] => {
    let text = '';
    try {
      text = readFileSync(log, 'utf8');
    } catch {}
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const at = line.lastIndexOf(' ');
        return [line.slice(0, at), Number(line.slice(at + 1))];
      });
  };
  const readsOf = (body: string) => reads().filter(([read]) => read === body).length;
  return { pool, reads, readsOf };
}

/** The text of a transform's answer, or `rejected <code>` when the transform or its body fails. */
function outcomeOf(promise: Promise<Response>): Promise<string> {
  return promise
    .then((response) => response.text())
    .catch((error: { code?: string }) => `rejected ${error.code}`);
}

/** A body that is not replayable: two batches, the second (with the end) a while after the first. */
function streamedBody(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let step = 0;
  return new ReadableStream({
    async pull(controller) {
      if (step === 0) controller.enqueue(bytes.subarray(0, 3));
      else {
        await new Promise((resolve) => setTimeout(resolve, 50));
        // The rest and the end together: two batches in all.
        controller.enqueue(bytes.subarray(3));
        controller.close();
      }
      step++;
    },
  });
}

describe('at the default options, a raw transform', () => {
  it("holds one client's message at a time, however many wait", async () => {
    const { pool, reads } = createMixPool();
    // Warm first: a process that has answered is one a pipelining pool would write several messages to.
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('answered warm');
    const bodies = Array.from({ length: 8 }, (_, index) => `m${index}`);
    const outcomes = await Promise.all(bodies.map((body) => outcomeOf(pool.transform(new Response(body)))));
    expect(outcomes).toEqual(bodies.map((body) => `answered ${body}`));
    expect(reads()).toEqual(['warm', ...bodies].map((body) => [body, 1]));
    expect(pool.stats().processes.map(({ onBoard, pipeline }) => ({ onBoard, pipeline }))).toEqual([
      { onBoard: 0, pipeline: 1 },
    ]);
  });

  it("row 1: half an answer never carries the next client's bytes", async () => {
    const { pool, readsOf } = createMixPool();
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('answered warm');
    const [culprit, innocent] = await Promise.all([
      outcomeOf(pool.transform(new Response('half'))),
      outcomeOf(pool.transform(new Response('innocent'))),
    ]);
    expect(culprit).toBe('rejected ERR_TRANSFORM_EXIT');
    expect(innocent).toBe('answered innocent');
    expect(readsOf('innocent')).toBe(1);
  });

  it("row 2: an innocent answered whole stands whatever the next message's answer is", async () => {
    const { pool, readsOf } = createMixPool();
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('answered warm');
    for (const culpritBody of ['bad-id', 'twice']) {
      const [innocent, culprit] = await Promise.all([
        outcomeOf(pool.transform(new Response(`innocent ${culpritBody}`))),
        outcomeOf(pool.transform(new Response(culpritBody))),
      ]);
      expect(innocent).toBe(`answered innocent ${culpritBody}`);
      expect(culprit).toBe('rejected ERR_TRANSFORM_PROTOCOL');
      expect(readsOf(`innocent ${culpritBody}`)).toBe(1);
    }
  });

  it('row 3: a streamed innocent sent behind a message that crashes its process is answered', async () => {
    const { pool, readsOf } = createMixPool();
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('answered warm');
    const [culprit, innocent] = await Promise.all([
      outcomeOf(pool.transform(new Response('crash'))),
      outcomeOf(pool.transform(new Response(streamedBody('streamed innocent')))),
    ]);
    expect(culprit).toBe('rejected ERR_TRANSFORM_EXIT');
    expect(innocent).toBe('answered streamed innocent');
    expect(readsOf('streamed innocent')).toBe(1);
  });

  it('row 4: a message answered twice fails itself; the one sent behind it is answered', async () => {
    const { pool, readsOf } = createMixPool();
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('answered warm');
    const [culprit, innocent] = await Promise.all([
      outcomeOf(pool.transform(new Response('twice'))),
      outcomeOf(pool.transform(new Response('innocent'))),
    ]);
    expect(culprit).toBe('rejected ERR_TRANSFORM_PROTOCOL');
    expect(innocent).toBe('answered innocent');
    expect(readsOf('innocent')).toBe(1);
  });

  it('row 5: behind any misbehaviour, each innocent message reaches the transform once', async () => {
    const { pool, readsOf } = createMixPool();
    // Not a stale answer: one is seen only once the next message was read, which is then run again, as
    // docs/failures.md says.
    for (const culprit of ['half', 'bad-id', 'twice', 'crash']) {
      // Warm each round: the process before may have been replaced.
      expect(await outcomeOf(pool.transform(new Response(`warm ${culprit}`)))).toBe(
        `answered warm ${culprit}`,
      );
      const innocents = [`after ${culprit} 1`, `after ${culprit} 2`];
      const outcomes = await Promise.all(
        [culprit, ...innocents].map((body) => outcomeOf(pool.transform(new Response(body)))),
      );
      expect(outcomes.slice(1)).toEqual(innocents.map((innocent) => `answered ${innocent}`));
      for (const innocent of innocents) expect(readsOf(innocent)).toBe(1);
    }
  });
});

describe('whatever the depth', () => {
  it('row 6: a message never waits behind another request whose handler body stalls', async () => {
    // pipeline set: the user trusts the transform with several messages, so joining is allowed at all.
    const { pool } = createMixPool({ processes: 2, pipeline: 4, env: { HOLD_MS: '0' } });
    await Promise.all([
      outcomeOf(pool.transform(new Response('warm 1'))),
      outcomeOf(pool.transform(new Response('warm 2'))),
    ]);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let sent = 0;
    const stalled = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent++ === 0) controller.enqueue(new TextEncoder().encode('sta'));
        else {
          await released;
          controller.enqueue(new TextEncoder().encode('lled'));
          controller.close();
        }
      },
    });
    const first = outcomeOf(pool.transform(new Response(stalled)));
    const slow = outcomeOf(pool.transform(new Response('slow')));
    // Both processes busy: these wait for the first process that can take them, never behind the stall (two,
    // so that spreading them over the least busy processes would put one there).
    const behind = Promise.all(
      ['behind 1', 'behind 2'].map((body) => outcomeOf(pool.transform(new Response(body)))),
    );
    const bound = new Promise<string[]>((resolve) =>
      setTimeout(() => resolve(['waited on the stall']), 20_000),
    );
    expect(await Promise.race([behind, bound])).toEqual(['answered behind 1', 'answered behind 2']);
    release();
    expect(await first).toBe('answered stalled');
    expect(await slow).toBe('answered slow');
  });

  it('row 8: a retried message goes to a process that has answered before when one is free', async () => {
    const { pool } = createMixPool({ processes: 2 });
    const warm = await Promise.all(['warm 1', 'warm 2'].map((body) => pool.transform(new Response(body))));
    const answeredBefore = new Set(warm.map((response) => response.headers.get('x-pid')));
    expect(answeredBefore.size).toBe(2);
    // Its process writes its answer again before the next one: the next message, not at fault, is retried.
    expect(await outcomeOf(pool.transform(new Response('stale-next')))).toBe('answered stale-next');
    const responses = await Promise.all(['m1', 'm2'].map((body) => pool.transform(new Response(body))));
    expect(await Promise.all(responses.map((response) => response.text()))).toEqual([
      'answered m1',
      'answered m2',
    ]);
    // The retried one was answered by the process that answered before, not by the fresh replacement.
    for (const response of responses) expect(answeredBefore).toContain(response.headers.get('x-pid'));
    expect(pool.stats()).toMatchObject({ failed: 0, exited: 1 });
  });
});

describe('row 10: a stale answer', () => {
  it('is told from a wrong id for as many answers back as docs/failures.md says', () => {
    const ids = new AnsweredIds();
    for (let index = 0; index < MAX_ANSWERED_IDS + 50; index++) ids.add(`id ${index}`);
    // The last MAX_ANSWERED_IDS are remembered; the 50 before them are not.
    expect(ids.has(`id ${MAX_ANSWERED_IDS + 49}`)).toBe(true);
    expect(ids.has('id 50')).toBe(true);
    expect(ids.has('id 49')).toBe(false);
    const docs = readFileSync(new URL('../../docs/failures.md', import.meta.url), 'utf8');
    const stated = MAX_ANSWERED_IDS.toLocaleString('en-US').replace(/,/g, ' ');
    expect(docs).toContain(`one of the last ${stated} messages that process answered`);
    expect(docs).not.toContain('however long ago');
  });
});

describe('retries and accounting: each guards a one-point defect that once went unnoticed', () => {
  it('a message is run again at most once: its side effects happen twice at most', async () => {
    const { pool, readsOf } = createMixPool({ processes: 2 });
    await Promise.all(['warm 1', 'warm 2'].map((body) => outcomeOf(pool.transform(new Response(body)))));
    // Both processes will write a stale answer before their next one: m meets one, then the other.
    expect(
      await Promise.all(
        ['stale-next', 'stale-next'].map((body) => outcomeOf(pool.transform(new Response(body)))),
      ),
    ).toEqual(['answered stale-next', 'answered stale-next']);
    expect(await outcomeOf(pool.transform(new Response('m')))).toBe('rejected ERR_TRANSFORM_PROTOCOL');
    expect(readsOf('m')).toBe(2);
  });

  it('a message whose handler body was read beyond its first batch is not run again from the middle', async () => {
    const { pool, readsOf } = createMixPool({ timeout: 20_000 });
    expect(await outcomeOf(pool.transform(new Response('dup-on-second')))).toBe('answered dup-on-second');
    // Two batches of its body are taken (the second makes the process write a stale answer), the end is not:
    // killed for the stale answer, it cannot be sent again whole, so it fails.
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let step = 0;
    // Pulled only when read (no queue ahead), each chunk a turn later: one batch each, never joined.
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          step++;
          if (step === 1) controller.enqueue(new TextEncoder().encode('first-batch '));
          else if (step === 2) {
            await new Promise((resolve) => setTimeout(resolve, 10));
            controller.enqueue(new TextEncoder().encode('second-batch'));
          } else await released.then(() => controller.close());
        },
      },
      { highWaterMark: 0 },
    );
    const outcome = outcomeOf(pool.transform(new Response(body)));
    expect(await outcome).toBe('rejected ERR_TRANSFORM_PROTOCOL');
    release();
    expect(readsOf('first-batch second-batch')).toBe(0);
  });

  it('a Transform-Error answer with a body over 1 MiB keeps its process', async () => {
    const { pool } = createMixPool();
    const first = await pool.transform(new Response('warm'));
    const pid = first.headers.get('x-pid');
    await first.text();
    expect(await outcomeOf(pool.transform(new Response('error-big')))).toBe('rejected ERR_TRANSFORM_FAILED');
    const next = await pool.transform(new Response('next'));
    expect(await next.text()).toBe('answered next');
    expect(next.headers.get('x-pid')).toBe(pid);
    expect(pool.stats()).toMatchObject({ exited: 0 });
  });

  it('a process that wrote output and then died is no start failure: poison never backs off', async () => {
    const { pool } = createMixPool();
    // Six poison messages, each to a fresh process that writes part of a head (no answer yet) and exits.
    for (let round = 0; round < 6; round++) {
      expect(await outcomeOf(pool.transform(new Response('partial-head')))).toBe(
        'rejected ERR_TRANSFORM_EXIT',
      );
    }
    expect(await outcomeOf(pool.transform(new Response('after')))).toBe('answered after');
    expect(pool.stats()).toMatchObject({ backoffs: 0, exited: 6 });
  });

  it('maxRequestsPerProcess counts the messages on board: no process runs more than it', async () => {
    const { pool } = createMixPool({ pipeline: 4, maxRequestsPerProcess: 3, env: { HOLD_MS: '50' } });
    const bodies = ['warm', ...Array.from({ length: 8 }, (_, index) => `m${index}`)];
    const responses = await Promise.all(bodies.map((body) => pool.transform(new Response(body))));
    const perPid = new Map<string, number>();
    for (const response of responses) {
      const pid = response.headers.get('x-pid') as string;
      perPid.set(pid, (perPid.get(pid) ?? 0) + 1);
      await response.text();
    }
    expect(Math.max(...perPid.values())).toBeLessThanOrEqual(3);
  });
});
