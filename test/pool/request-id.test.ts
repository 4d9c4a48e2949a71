// Request ids when a transform is allowed not to echo them: once it has echoed one, it must always.
import { describe, expect, it } from 'vitest';
import { createTransformPool } from '../../src/index.ts';
import { AnsweredIds } from '../../src/pool/request-id.ts';
import { nodeFixture, outcomeOf, track } from '../_utils.ts';

describe('request ids with requireRequestId: false', () => {
  it('a transform that echoed Transform-Request-Id once and then stops is a protocol error, and is replaced', async () => {
    const pool = track(
      createTransformPool({
        command: nodeFixture('stops-echoing-id.mjs'),
        processes: 1,
        requireRequestId: false,
        stderr: 'ignore',
      }),
    );
    // Never having echoed, omitting is allowed; once it echoed, omitting means it lost track of the ids.
    expect(await outcomeOf(pool.transform(new Response('first')))).toBe('first');
    expect(await outcomeOf(pool.transform(new Response('omit')))).toBe('rejected ERR_TRANSFORM_PROTOCOL');
    // The process that broke the protocol is gone; a fresh one that has not echoed yet may omit the id.
    expect(await outcomeOf(pool.transform(new Response('after')))).toBe('after');
    expect(pool.stats()).toMatchObject({ started: 2 });
  });
});

describe('an answer with two Transform-Request-Id fields', () => {
  it('is a protocol error in either order, and the process is replaced', async () => {
    const pool = track(
      createTransformPool({ command: nodeFixture('two-ids.mjs'), processes: 1, stderr: 'ignore' }),
    );
    for (const order of ['wrong-first', 'right-first', 'wrong-first']) {
      expect(await outcomeOf(pool.transform(new Response(order)))).toBe('rejected ERR_TRANSFORM_PROTOCOL');
      expect(await outcomeOf(pool.transform(new Response('plain')))).toBe('plain');
    }
    expect(pool.stats()).toMatchObject({ started: 4, ok: 3 });
  });
});

describe('AnsweredIds', () => {
  it('remembers the last ids up to its bound and forgets the oldest first', () => {
    const ids = new AnsweredIds(3);
    for (const id of ['a', 'b', 'c', 'd', 'e']) ids.add(id);
    expect(['a', 'b', 'c', 'd', 'e'].map((id) => ids.has(id))).toEqual([false, false, true, true, true]);
    // An id added again is not counted twice: it would push a newer one out early.
    ids.add('e');
    ids.add('f');
    expect(['c', 'd', 'e', 'f'].map((id) => ids.has(id))).toEqual([false, true, true, true]);
  });

  it('keeps 10 000 ids by default, across many rounds of the ring', () => {
    const ids = new AnsweredIds();
    for (let i = 0; i < 35_000; i++) ids.add(`id-${i}`);
    expect(ids.has('id-24999')).toBe(false);
    expect(ids.has('id-25000')).toBe(true);
    expect(ids.has('id-34999')).toBe(true);
  });
});
