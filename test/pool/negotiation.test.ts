// A process holds several messages only once it has shown it frames by construction: a serveTransform child
// announces it with a field on its answers (the pool strips it), and an echo of the input cannot forge it.
import { describe, expect, it } from 'vitest';
import { createTransformPool, type PoolOptions } from '../../src/index.ts';
import { CHILD_RUNTIMES } from '../_child-runtimes.ts';
import {
  createLogFile,
  createObservedPool,
  exitsOf,
  fixture,
  linesOf,
  nodeFixture,
  outcomeOf,
  track,
  waitFor,
} from '../_utils.ts';

function createPool(options: PoolOptions) {
  return track(createTransformPool({ processes: 1, stderr: 'ignore', onEvent: () => {}, ...options }));
}

const depthOf = (pool: { stats(): { processes: { pipeline: number }[] } }) =>
  pool.stats().processes.map((process) => process.pipeline);

describe('pipelining by negotiation', () => {
  it('a serveTransform child announces it: the pool raises it to the default depth and strips the field', async () => {
    const pool = createPool({ command: nodeFixture('serve-stray-stdout.mjs') });
    expect(depthOf(pool)).toEqual([1]);
    const response = await pool.transform(new Response('first'));
    expect(await response.text()).toBe('echo first');
    expect(response.headers.has('transform-pipeline')).toBe(false);
    expect(depthOf(pool)).toEqual([4]);
    // Messages pile up behind a slow one: up to 4 on board, never more.
    let most = 0;
    const results = Promise.all(
      ['wait', ...Array.from({ length: 7 }, (_, index) => `m${index}`)].map((body) =>
        pool.transform(new Response(body)).then((answer) => answer.text()),
      ),
    );
    const sample = setInterval(() => {
      most = Math.max(most, ...pool.stats().processes.map((process) => process.onBoard));
    }, 1);
    expect(await waitFor(() => pool.stats().processes[0]?.onBoard === 4, 20_000)).toBe(true);
    expect(await results).toEqual([
      'echo wait',
      ...Array.from({ length: 7 }, (_, index) => `echo m${index}`),
    ]);
    clearInterval(sample);
    expect(most).toBe(4);
    expect(pool.stats()).toMatchObject({ ok: 9, failed: 0 });
  });

  it('cat cannot forge it: a handler field of that name never reaches the input', async () => {
    const pool = createPool({ command: 'cat' });
    const response = await pool.transform(
      new Response('body', { headers: { 'Transform-Pipeline': '1024', 'X-Kept': 'yes' } }),
    );
    expect(await response.text()).toBe('body');
    expect(response.headers.get('x-kept')).toBe('yes');
    expect(response.headers.has('transform-pipeline')).toBe(false);
    expect(depthOf(pool)).toEqual([1]);
  });

  it('`pipeline` set trusts every process with it; an announcing child takes the smaller of the two', async () => {
    const raw = createPool({ command: 'cat', pipeline: 8 });
    expect(depthOf(raw)).toEqual([8]);
    const child = createPool({ command: nodeFixture('serve-stray-stdout.mjs'), pipeline: 2 });
    expect(await (await child.transform(new Response('x'))).text()).toBe('echo x');
    expect(depthOf(child)).toEqual([2]);
  });
});

describe('row 2 on a process that announced: an answer that came whole stands', () => {
  // Both answers come in one read (one write of a few KiB): the first is whole before the second breaks.
  async function sendPair(options: Partial<PoolOptions>, second: string) {
    const pool = createPool({ command: nodeFixture('announced-pair.mjs'), ...options });
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('echo warm');
    expect(depthOf(pool)).toEqual([4]);
    const outcomes = await Promise.all(
      ['hold', second].map((body) => outcomeOf(pool.transform(new Response(body)))),
    );
    return { outcomes, stats: pool.stats() };
  }

  it('when the answer right behind it breaks a head limit (more than 256 fields) after a good status line', async () => {
    const { outcomes, stats } = await sendPair({}, 'many-fields');
    expect(outcomes).toEqual(['echo hold', 'rejected ERR_TRANSFORM_PROTOCOL']);
    expect(stats).toMatchObject({ ok: 2, failed: 1 });
  });

  it('when the answer right behind it is an interim response (101), which Bun and Deno let user code return', async () => {
    const { outcomes } = await sendPair({}, 'interim');
    expect(outcomes).toEqual(['echo hold', 'rejected ERR_TRANSFORM_PROTOCOL']);
  });

  it('but not when what follows it is no answer at all: bytes left over cast doubt on it', async () => {
    const { outcomes } = await sendPair({}, 'junk');
    expect(outcomes).toEqual(['rejected ERR_TRANSFORM_PROTOCOL', 'rejected ERR_TRANSFORM_PROTOCOL']);
  });

  it('but not on a raw transform trusted by `pipeline` alone: its framing is its word only', async () => {
    const pool = createPool({
      command: nodeFixture('announced-pair.mjs'),
      pipeline: 4,
      env: { SILENT: '1' },
    });
    // Set, the option trusts it before any answer; its announcement is not what raised it.
    expect(depthOf(pool)).toEqual([4]);
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('echo warm');
    const outcomes = await Promise.all(
      ['hold', 'many-fields'].map((body) => outcomeOf(pool.transform(new Response(body)))),
    );
    expect(outcomes).toEqual(['rejected ERR_TRANSFORM_PROTOCOL', 'rejected ERR_TRANSFORM_PROTOCOL']);
  });
});

describe('serveTransform keeps user code off the protocol', () => {
  it.each(
    CHILD_RUNTIMES,
  )("protocol fields on the Response user code returns are the loop's to write ($runtime child)", async ({
    argv,
  }) => {
    const pool = createPool({ command: [...argv, fixture('serve-own-fields.mjs')] });
    const bodies = ['a', 'b', 'c', 'd', 'e', 'f'];
    const responses = await Promise.all(bodies.map((body) => pool.transform(new Response(body))));
    expect(await Promise.all(responses.map((response) => response.text()))).toEqual(
      bodies.map((body) => `echo ${body}`),
    );
    expect(
      responses.map((response) =>
        [...response.headers.keys()].filter((name) => name.startsWith('transform-')),
      ),
    ).toEqual(bodies.map(() => []));
    expect(responses[0]?.headers.get('x-kept')).toBe('yes');
    expect(pool.stats()).toMatchObject({ ok: 6, failed: 0, exited: 0 });
    // Its own announcement still counts, and user code cannot raise it.
    expect(depthOf(pool)).toEqual([4]);
  });

  it.each(
    CHILD_RUNTIMES,
  )('a 1xx Response user code returns is answered as Transform-Error, and the process serves on ($runtime child)', async ({
    argv,
  }) => {
    const pool = createPool({ command: [...argv, fixture('serve-interim.mjs')] });
    const bodies = ['a', 'interim', 'b'];
    const outcomes = await Promise.all(bodies.map((body) => outcomeOf(pool.transform(new Response(body)))));
    expect(outcomes).toEqual(['echo a', 'rejected ERR_TRANSFORM_FAILED', 'echo b']);
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 1, exited: 0, started: 1 });
  });

  it.each(
    CHILD_RUNTIMES,
  )("a head over the pool's limits fails alone, as Transform-Error; the messages behind it reach the transform once ($runtime child)", async ({
    argv,
  }) => {
    const reads = createLogFile();
    const pool = createPool({ command: [...argv, fixture('serve-big-head.mjs')], env: { READ_LOG: reads } });
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('echo warm');
    const bodies = ['many-fields', 'a', 'b', 'big-head', 'c'];
    const outcomes = await Promise.all(bodies.map((body) => outcomeOf(pool.transform(new Response(body)))));
    expect(outcomes).toEqual([
      'rejected ERR_TRANSFORM_FAILED',
      'echo a',
      'echo b',
      'rejected ERR_TRANSFORM_FAILED',
      'echo c',
    ]);
    expect(linesOf(reads).sort()).toEqual(['warm', ...bodies].sort());
    expect(pool.stats()).toMatchObject({ ok: 4, failed: 2, exited: 0, started: 1 });
  });

  it('the pool tells its child its limits: raised, they let the same head through', async () => {
    const pool = createPool({ command: nodeFixture('serve-big-head.mjs'), limits: { maxHeaderCount: 400 } });
    const response = await pool.transform(new Response('many-fields'));
    expect(await response.text()).toBe('echo many-fields');
    expect(response.headers.get('x-field-299')).toBe('v');
  });

  it.each(
    CHILD_RUNTIMES,
  )('process.stdout writes, at load and while transforming, go to stderr ($runtime child)', async ({
    argv,
  }) => {
    const lines: string[] = [];
    const pool = createPool({
      command: [...argv, fixture('serve-stray-stdout.mjs')],
      stderr: (line) => lines.push(line),
    });
    const bodies = ['a', 'b', 'c'];
    const answers = await Promise.all(
      bodies.map((body) => pool.transform(new Response(body)).then((response) => response.text())),
    );
    expect(answers).toEqual(['echo a', 'echo b', 'echo c']);
    expect(pool.stats()).toMatchObject({ ok: 3, failed: 0, exited: 0 });
    expect(depthOf(pool)).toEqual([4]);
    expect(await waitFor(() => lines.length >= 4, 10_000)).toBe(true);
    expect(lines).toEqual(
      expect.arrayContaining([
        'stray at load',
        'stray while transforming a',
        'stray while transforming b',
        'stray while transforming c',
      ]),
    );
  });
});

describe('an answer over limits.maxBodyBytes', () => {
  const bodies = ['a', 'big-known', 'b', 'c', 'big-stream', 'd'];

  it.each(
    CHILD_RUNTIMES,
  )('from a child that announced fails alone; the messages behind it reach the transform once, on the same process ($runtime child)', async ({
    argv,
  }) => {
    const reads = createLogFile();
    const pool = createPool({
      command: [...argv, fixture('serve-big-body.mjs')],
      env: { READ_LOG: reads },
      limits: { maxBodyBytes: 1024 },
    });
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('echo warm');
    const outcomes = await Promise.all(bodies.map((body) => outcomeOf(pool.transform(new Response(body)))));
    expect(outcomes).toEqual([
      'echo a',
      'rejected ERR_TRANSFORM_PROTOCOL',
      'echo b',
      'echo c',
      'rejected ERR_TRANSFORM_PROTOCOL',
      'echo d',
    ]);
    expect(linesOf(reads).sort()).toEqual(['warm', ...bodies].sort());
    expect(pool.stats()).toMatchObject({ ok: 5, failed: 2, exited: 0, started: 1 });
  });

  it("as a child's first answer (a known length, before its announcement is read) is refused: nothing is behind it", async () => {
    const reads = createLogFile();
    const { pool, events } = createObservedPool(nodeFixture('serve-big-body.mjs'), {
      stderr: 'ignore',
      env: { READ_LOG: reads },
      limits: { maxBodyBytes: 1024 },
    });
    expect(await outcomeOf(pool.transform(new Response('big-known')))).toBe(
      'rejected ERR_TRANSFORM_PROTOCOL',
    );
    expect(await outcomeOf(pool.transform(new Response('a')))).toBe('echo a');
    expect(linesOf(reads)).toEqual(['big-known', 'a']);
    expect(await waitFor(() => exitsOf(events).length === 1, 20_000)).toBe(true);
    expect(exitsOf(events).map((exit) => exit.reason)).toEqual(['protocol']);
  });

  it('from a child that announced, without end: dropped for `timeout`, then its process is replaced', async () => {
    const { pool, events } = createObservedPool(nodeFixture('serve-big-body.mjs'), {
      stderr: 'ignore',
      limits: { maxBodyBytes: 1024 },
      timeout: 1000,
    });
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('echo warm');
    expect(await outcomeOf(pool.transform(new Response('endless')))).toBe('rejected ERR_TRANSFORM_PROTOCOL');
    // A property, not a deadline: the drain's bound is `timeout`, the wait ten times that and more.
    expect(await waitFor(() => exitsOf(events).length === 1, 20_000)).toBe(true);
    expect(exitsOf(events)[0]?.reason).toBe('timeout');
    expect(await outcomeOf(pool.transform(new Response('after')))).toBe('echo after');
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 1, started: 2 });
  });

  it('from a child that announced, without `timeout` (0): refused, and its process replaced, as nothing else bounds it', async () => {
    const { pool, events } = createObservedPool(nodeFixture('serve-big-body.mjs'), {
      stderr: 'ignore',
      limits: { maxBodyBytes: 1024 },
      timeout: 0,
    });
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('echo warm');
    expect(await outcomeOf(pool.transform(new Response('endless')))).toBe('rejected ERR_TRANSFORM_PROTOCOL');
    expect(await waitFor(() => exitsOf(events).length === 1, 20_000)).toBe(true);
    expect(exitsOf(events)[0]?.reason).toBe('protocol');
  });

  it('from a raw transform at the defaults (one message at a time) fails alone, and the process is replaced', async () => {
    const reads = createLogFile();
    const pool = createPool({
      command: nodeFixture('raw-big-body.mjs'),
      env: { READ_LOG: reads },
      limits: { maxBodyBytes: 1024 },
    });
    const known = bodies.filter((body) => body !== 'big-stream');
    const outcomes = await Promise.all(known.map((body) => outcomeOf(pool.transform(new Response(body)))));
    expect(outcomes).toEqual(['echo a', 'rejected ERR_TRANSFORM_PROTOCOL', 'echo b', 'echo c', 'echo d']);
    expect(linesOf(reads).sort()).toEqual(known.sort());
    expect(pool.stats()).toMatchObject({ ok: 4, failed: 1, started: 2 });
  });

  it('from a raw transform is refused before its head counts: a Transform-Error over it is a protocol error', async () => {
    const { pool, events } = createObservedPool(nodeFixture('raw-big-body.mjs'), {
      stderr: 'ignore',
      limits: { maxBodyBytes: 1024 },
    });
    expect(await outcomeOf(pool.transform(new Response('big-error')))).toBe(
      'rejected ERR_TRANSFORM_PROTOCOL',
    );
    expect(await waitFor(() => exitsOf(events).length === 1, 20_000)).toBe(true);
    // Never heard as an answer: no transform-error event (a replacement may spawn at any point).
    const heard = events.filter((event) => event.type !== 'spawn').map((event) => event.type);
    expect(heard).toEqual(['protocol-error', 'exit']);
  });
});
