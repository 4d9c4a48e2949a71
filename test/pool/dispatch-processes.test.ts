// Which process takes a transform, with real processes (rows 6 and 8 of the isolation table): answers wait at
// a gate the test opens (test/fixtures/gated.mjs, SIGUSR1), so where each message went is read from pids and
// counts while they are held, never from timings. The pure rules are in test/pool/dispatch.test.ts.
import { describe, expect, it } from 'vitest';
import {
  createTransformPool,
  type PoolOptions,
  type TransformError,
  type TransformPool,
} from '../../src/index.ts';
import { nodeFixture, track, waitFor } from '../_utils.ts';

/** Wait bounds: far above what a loaded machine needs; a test that reaches one has failed anyway. */
const BOUND = 30_000;

/** Each `read <body>` line of the gated processes, as `<pid> <body>`. */
let reads: string[] = [];

/**
 * Open the gate of the process that read `body`, once it has read it (a signal before its handler is set
 * would be lost); returns its pid.
 */
async function release(body: string): Promise<string> {
  expect(await waitFor(() => readerOf(body) !== undefined, BOUND)).toBe(true);
  const pid = readerOf(body) as string;
  process.kill(Number(pid), 'SIGUSR1');
  return pid;
}

/** The pid of the process that read `body`, if one has. */
function readerOf(body: string): string | undefined {
  return reads.find((line) => line.endsWith(` ${body}`))?.split(' ')[0];
}

/** A pool of gated.mjs processes, each warm (it answered once), and their pids. */
async function createWarmPool(options: Partial<PoolOptions>): Promise<[TransformPool, string[]]> {
  reads = [];
  const pool = track(
    createTransformPool({
      command: nodeFixture('gated.mjs'),
      stderr: (line, { pid }) => reads.push(`${pid} ${line.replace(/^read /, '')}`),
      onEvent: () => {},
      // Answers wait at the gate as long as the test needs: no timeout may end them first.
      timeout: 600_000,
      ...options,
    }),
  );
  const count = options.processes ?? 1;
  const warm = await Promise.all(
    Array.from({ length: count }, (_, index) => pool.transform(new Response(`warm ${index}`))),
  );
  const pids = warm.map((response) => response.headers.get('x-pid') as string);
  expect(new Set(pids).size).toBe(count);
  return [pool, pids];
}

/** The messages on board of each process, by pid. */
function onBoardOf(pool: TransformPool): Map<string, number> {
  return new Map(pool.stats().processes.map((process) => [String(process.pid), process.onBoard]));
}

/** `answered <body>` and the pid that answered it. */
async function answerOf(promise: Promise<Response>): Promise<[string, string]> {
  const response = await promise;
  return [await response.text(), response.headers.get('x-pid') as string];
}

describe('dispatch, with real processes held at a gate', () => {
  it('row 6: a new message joins the least busy process when none is idle', async () => {
    const [pool, pids] = await createWarmPool({ processes: 2, pipeline: 4 });
    const held = ['hold a', 'hold b'].map((body) => answerOf(pool.transform(new Response(body))));
    // Each held message took an idle process: none is idle now.
    expect(await waitFor(() => [...onBoardOf(pool).values()].join() === '1,1', BOUND)).toBe(true);
    const joined: Promise<[string, string]>[] = [];
    for (const body of ['m1', 'm2', 'm3']) {
      joined.push(answerOf(pool.transform(new Response(body))));
      // One at a time, each read by its process (so written whole: a process may take the next only then).
      expect(await waitFor(() => readerOf(body) !== undefined, BOUND)).toBe(true);
    }
    // 1,1 -> 2,1 -> 2,2 -> 3,2: the busiest-first rule would give 4,1.
    expect([...onBoardOf(pool).values()].sort()).toEqual([2, 3]);
    for (const body of ['hold a', 'hold b']) await release(body);
    const answers = await Promise.all([...held, ...joined]);
    expect(answers.map(([text]) => text)).toEqual([
      'answered hold a',
      'answered hold b',
      'answered m1',
      'answered m2',
      'answered m3',
    ]);
    // Each process answered what it held: the counts per pid are 3 and 2.
    const perPid = pids.map((pid) => answers.filter(([, by]) => by === pid).length).sort();
    expect(perPid).toEqual([2, 3]);
    expect(pool.stats()).toMatchObject({ ok: 7, failed: 0, started: 2 });
  });

  it('row 8: a retried message waits for a process that has answered before, not the fresh replacement', async () => {
    const [pool, pids] = await createWarmPool({ processes: 2 });
    const held = answerOf(pool.transform(new Response('hold g')));
    expect(await waitFor(() => pool.stats().idle === 1, BOUND)).toBe(true);
    const holder = [...onBoardOf(pool)].find(([, count]) => count === 1)?.[0] as string;
    const other = pids.find((pid) => pid !== holder) as string;
    // The other process answers "stale-next", then writes that answer again before its next one: the next
    // message is not to blame, so it is run again; its process is replaced.
    expect(await answerOf(pool.transform(new Response('stale-next')))).toEqual([
      'answered stale-next',
      other,
    ]);
    const retried = answerOf(pool.transform(new Response('retried')));
    expect(await waitFor(() => pool.stats().exited === 1 && pool.stats().queued === 1, BOUND)).toBe(true);
    const replacement = () => pool.stats().processes.find((process) => !pids.includes(String(process.pid)));
    // A new message, not retried, goes to the fresh replacement at once (held there), while the retried one,
    // queued ahead of it, is passed over: it waits for the holder, which has answered before.
    const probe = answerOf(pool.transform(new Response('hold probe')));
    expect(
      await waitFor(() => replacement()?.onBoard === 1 && pool.stats().queued === 1, BOUND),
      JSON.stringify(pool.stats()),
    ).toBe(true);
    expect(await release('hold g')).toBe(holder);
    expect(await held).toEqual(['answered hold g', holder]);
    expect(await retried).toEqual(['answered retried', holder]);
    const fresh = String(replacement()?.pid);
    expect(await release('hold probe')).toBe(fresh);
    expect(await probe).toEqual(['answered hold probe', fresh]);
    expect(pool.stats()).toMatchObject({ ok: 6, failed: 0, started: 3 });
  });

  it('row 8: a retried message goes to the idle process that has answered, behind fresh idle ones', async () => {
    const [pool] = await createWarmPool({ processes: 6 });
    // Its answer is written again before its next one: the next message on it is retried.
    const [, stale] = await answerOf(pool.transform(new Response('stale-next')));
    // The five others are held one each, then "hold x" goes to the stale one, idle last.
    const bodies = ['hold 1', 'hold 2', 'hold 3', 'hold 4', 'hold 5', 'hold x'];
    const held: Promise<[string, string] | string>[] = [];
    for (const body of bodies) {
      held.push(answerOf(pool.transform(new Response(body))).catch((error: TransformError) => error.code));
      expect(await waitFor(() => readerOf(body) !== undefined, BOUND)).toBe(true);
    }
    expect(readerOf('hold x')).toBe(stale);
    const answered = readerOf('hold 1') as string;
    // Four holders killed: their messages fail, and four fresh replacements wait idle ahead of the holder of
    // "hold 1" (each wrong pick of the retried one's process sends one fresh process to the back: a few
    // wrong picks, one per event, still leave a fresh one in front).
    for (const body of bodies.slice(1, 5)) process.kill(Number(readerOf(body)), 'SIGKILL');
    // Fresh, they count as starting until they answer.
    expect(await waitFor(() => pool.stats().starting === 4, BOUND), JSON.stringify(pool.stats())).toBe(true);
    expect(await release('hold 1')).toBe(answered);
    expect(await waitFor(() => pool.stats().idle === 1, BOUND)).toBe(true);
    // The stale repeat: "hold x" is run again, by the one idle process that has answered, with no other traffic.
    process.kill(Number(stale), 'SIGUSR1');
    const reread = await waitFor(() => reads.includes(`${answered} hold x`), BOUND);
    expect(reread, JSON.stringify(pool.stats())).toBe(true);
    expect(await Promise.all(held)).toEqual([
      ['answered hold 1', answered],
      ...bodies.slice(1, 5).map(() => 'ERR_TRANSFORM_EXIT'),
      ['answered hold x', answered],
    ]);
    // 6 warm, "stale-next", "hold 1", "hold x"; the stale one replaced too.
    expect(pool.stats()).toMatchObject({ ok: 9, failed: 4 });
    expect(await waitFor(() => pool.stats().started === 11, BOUND)).toBe(true);
  });
});
