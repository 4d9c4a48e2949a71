// The chaos proof: over a thousand transforms at the default options, three processes, nine kinds of
// misbehaviour mixed in at random (seeded, so a failure can be replayed). No client receives a byte another
// request produced, no innocent fails, and each innocent reaches the transform's code once (counted by a
// side-effect log the fixtures write). Then the same with a serveTransform child, which announces that it
// frames by construction and so is pipelined to: still no innocent fails.
//
// Left out of the mix on purpose: an answer repeated later (a stale answer), which is seen only once the
// next message was read and so runs that one again, as docs/failures.md states.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTransformPool, type PoolOptions } from '../../src/index.ts';
import { nodeFixture, track } from '../_utils.ts';

const TRANSFORMS = 1_000;
const CLIENTS = 16;

let folder: string | undefined;
afterEach(() => {
  if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  folder = undefined;
});

/** mulberry32: a small deterministic generator, so a failing run's mix can be replayed. */
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

/** One action per transform: `ok` for the innocent, else a misbehaviour, one in ten on average. */
function planMix(seed: number, misbehaviours: readonly string[]): string[] {
  const roll = random(seed);
  return Array.from({ length: TRANSFORMS }, () =>
    roll() < 0.1 ? (misbehaviours[Math.floor(roll() * misbehaviours.length)] as string) : 'ok',
  );
}

type Outcome = { body: string } | { code: string };

async function outcomeOf(promise: Promise<Response>): Promise<Outcome> {
  try {
    const response = await promise;
    return { body: await response.text() };
  } catch (error) {
    return { code: String((error as { code?: string }).code) };
  }
}

/** Run the mix, CLIENTS at a time, and check every outcome against the rules. */
async function runChaos(options: PoolOptions, actions: string[], innocentActions: ReadonlySet<string>) {
  folder = mkdtempSync(join(tmpdir(), 'chaos-'));
  const log = join(folder, 'reads.log');
  const pool = track(
    createTransformPool({
      processes: 3,
      stderr: 'ignore',
      onEvent: () => {},
      ...options,
      env: { READ_LOG: log },
    }),
  );
  const outcomes: Outcome[] = new Array(actions.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let index = next++; index < actions.length; index = next++) {
        outcomes[index] = await outcomeOf(pool.transform(new Response(`t${index}:${actions[index]}`)));
      }
    }),
  );
  const reads = new Map<string, number>();
  for (const token of readFileSync(log, 'utf8').split('\n').filter(Boolean)) {
    reads.set(token, (reads.get(token) ?? 0) + 1);
  }
  const foreign: string[] = [];
  const failedInnocents: string[] = [];
  const readAgain: string[] = [];
  outcomes.forEach((outcome, index) => {
    const innocent = innocentActions.has(actions[index] as string);
    // Whoever got a body got its own, byte for byte, or, for a big answer, its own and padding.
    if ('body' in outcome && !outcome.body.startsWith(`echo t${index}`)) foreign.push(`t${index}`);
    if ('body' in outcome && outcome.body.length > `echo t${index}`.length && actions[index] !== 'big') {
      foreign.push(`t${index}`);
    }
    if (innocent && 'code' in outcome) failedInnocents.push(`t${index}:${actions[index]} ${outcome.code}`);
    if (innocent && reads.get(`t${index}`) !== 1) readAgain.push(`t${index} x${reads.get(`t${index}`)}`);
  });
  return { pool, outcomes, foreign, failedInnocents, readAgain };
}

describe('chaos at the default options', () => {
  it(`a raw transform, ${TRANSFORMS} transforms, nine misbehaviours, 3 processes: no foreign byte, no innocent failed, each innocent read once`, async () => {
    const misbehaviours = [
      'crash',
      'quit',
      'half',
      'cut',
      'bad-id',
      'twice',
      'garbage',
      'bad-chunk',
      'closes',
    ];
    const actions = planMix(20_261_207, misbehaviours);
    expect(new Set(actions.filter((action) => action !== 'ok')).size).toBe(9);
    const { pool, foreign, failedInnocents, readAgain } = await runChaos(
      { command: nodeFixture('chaos.mjs') },
      actions,
      new Set(['ok']),
    );
    expect(foreign).toEqual([]);
    expect(failedInnocents).toEqual([]);
    expect(readAgain).toEqual([]);
    expect(pool.stats().ok).toBeGreaterThanOrEqual(actions.filter((action) => action === 'ok').length);
  }, 600_000);

  it(`a serveTransform child that negotiated pipelining, ${TRANSFORMS} transforms, nine misbehaviours: no innocent failed`, async () => {
    const misbehaviours = [
      'crash',
      'quit',
      'throw',
      'stdout',
      'body-fails',
      'locked',
      'slow',
      'console',
      'big',
    ];
    const actions = planMix(7_021_226, misbehaviours);
    expect(new Set(actions.filter((action) => action !== 'ok')).size).toBe(9);
    // Innocent here: every message whose own transform does nothing wrong, the harmless oddities included.
    const innocent = new Set(['ok', 'stdout', 'slow', 'console', 'big']);
    const { pool, foreign, failedInnocents, readAgain } = await runChaos(
      { command: nodeFixture('serve-chaos.mjs') },
      actions,
      innocent,
    );
    expect(pool.stats().processes.map((process) => process.pipeline)).toContain(4);
    expect(foreign).toEqual([]);
    expect(failedInnocents).toEqual([]);
    // A message read ahead never reached the transform's code: each innocent was transformed once.
    expect(readAgain).toEqual([]);
  }, 600_000);
});
