import { describe, expect, it } from 'vitest';
import { createTransformPool } from '../../src/index.ts';
import { nodeFixture, track } from '../_utils.ts';

type Action = 'ok' | 'dup-now' | 'dup-later' | 'split' | 'guess' | 'garbage' | 'crash' | 'hang';

/** Every code a transform may fail with; anything else is a bug. */
const DOCUMENTED_CODES = new Set([
  'ERR_TRANSFORM_SPAWN',
  'ERR_TRANSFORM_EXIT',
  'ERR_TRANSFORM_PROTOCOL',
  'ERR_TRANSFORM_FAILED',
  'ERR_TRANSFORM_TIMEOUT',
  'ERR_TRANSFORM_QUEUE_FULL',
  'ERR_TRANSFORM_CLOSED',
  'ERR_TRANSFORM_ABORTED',
]);

/** Actions whose own answer is correct and complete, so they may succeed; crash and hang never can. */
const MAY_SUCCEED = new Set<Action>(['ok', 'dup-now', 'dup-later', 'split', 'guess', 'garbage']);
/** Actions that write bytes a later transform on the same process may read. */
const SPILLS = new Set<Action>(['dup-now', 'dup-later', 'split', 'guess', 'garbage']);

/** mulberry32: a small deterministic generator, so a failing run's actions can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pickAction(roll: number): Action {
  const odds: [Action, number][] = [
    ['crash', 0.002],
    ['hang', 0.0004],
    ['dup-now', 0.002],
    ['dup-later', 0.002],
    ['split', 0.002],
    ['guess', 0.002],
    ['garbage', 0.002],
  ];
  let at = 0;
  for (const [action, odd] of odds) {
    at += odd;
    if (roll < at) return action;
  }
  return 'ok';
}

type Outcome = { body: string } | { code: string; status: number | undefined };

async function run(promise: Promise<Response>): Promise<Outcome> {
  try {
    const response = await promise;
    return { body: await response.text() };
  } catch (error) {
    const { code, status } = error as { code?: unknown; status?: number };
    return { code: typeof code === 'string' ? code : `not a TransformError: ${String(error)}`, status };
  }
}

describe('soak', () => {
  // About 1 min with a core to itself, 2 min pinned to a core shared with two busy loops (240 s was twice
  // that): the bound is for a hang, not for a slow machine.
  it('20 000 transforms over 4 misbehaving processes: no answer ever carries another request', async () => {
    const pool = track(
      createTransformPool({
        command: nodeFixture('soak-faults.mjs'),
        env: { SOAK_SLOW_BOOT: '0.2' },
        processes: 4,
        timeout: 5000,
        stderr: 'ignore',
      }),
    );
    const roll = random(20261130);
    const total = 20_000;
    const actions: Action[] = Array.from({ length: total }, () => pickAction(roll()));
    const tally = new Map<string, number>();
    const count = (key: string): void => {
      tally.set(key, (tally.get(key) ?? 0) + 1);
    };
    const crossed: string[] = [];
    const undocumented: string[] = [];
    const wronglyOk: string[] = [];
    let next = 0;
    const client = async (): Promise<void> => {
      while (next < total) {
        const index = next++;
        const action = actions[index] as Action;
        // Unique per request, so a body that reached the wrong request names the one it belongs to.
        const token = `t${index}x${Math.random().toString(36).slice(2, 10)}`;
        const outcome = await run(pool.transform(new Response(`${token}:${action}`)));
        if ('body' in outcome) {
          count(`${action} ok`);
          if (outcome.body !== `echo ${token}`)
            crossed.push(`${action} ${token} got ${outcome.body.slice(0, 60)}`);
          else if (!MAY_SUCCEED.has(action)) wronglyOk.push(`${action} ${token}`);
        } else {
          count(`${action} ${outcome.code}`);
          if (!DOCUMENTED_CODES.has(outcome.code)) undocumented.push(`${action}: ${outcome.code}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, client));
    const report = Object.fromEntries([...tally].sort());
    expect(crossed.slice(0, 10), `${crossed.length} crossed; ${JSON.stringify(report)}`).toEqual([]);
    expect(undocumented).toEqual([]);
    expect(wronglyOk).toEqual([]);
    const stats = pool.stats();
    expect(stats.ok + stats.failed).toBe(total);
    const spills = actions.filter((action) => SPILLS.has(action)).length;
    const collateral = [...tally]
      .filter(([key]) => key.startsWith('ok ') && key !== 'ok ok')
      .reduce((sum, [, n]) => sum + n, 0);
    // Stray bytes fail at most one other transform each: the one in flight when they arrive.
    expect(collateral, JSON.stringify(report)).toBeLessThanOrEqual(spills);
    expect(tally.get('ok ok') ?? 0).toBeGreaterThan(total * 0.95);
    // The faults really happened: crashes and hangs failed as such.
    expect(tally.get('crash ERR_TRANSFORM_EXIT') ?? 0).toBeGreaterThan(10);
    expect(tally.get('hang ERR_TRANSFORM_TIMEOUT') ?? 0).toBeGreaterThan(0);
  }, 600_000);
});
