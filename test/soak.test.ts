import { describe, expect, it } from 'vitest';
import { createTransformPool, TransformError } from '../src/index.ts';
import { nodeFixture, track } from './_utils.ts';

type Action = 'ok' | 'crash' | 'hang' | 'garbage' | 'twice';

/** A small deterministic generator, so a failing run can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

function pickAction(roll: number): Action {
  if (roll < 0.003) return 'crash';
  if (roll < 0.004) return 'hang';
  if (roll < 0.006) return 'garbage';
  if (roll < 0.007) return 'twice';
  return 'ok';
}

describe('soak', () => {
  it('20 000 transforms over 4 processes with crashes, hangs and garbage: each answer is its own', async () => {
    const pool = track(
      createTransformPool({ command: nodeFixture('soak.mjs'), processes: 4, timeout: 300, maxQueue: 100 }),
    );
    const roll = random(20261122);
    const total = 20_000;
    const tally = { ok: 0, collateral: 0, crash: 0, hang: 0, garbage: 0, twice: 0 };
    let injectedGarbage = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < total) {
        const id = next++;
        const action = pickAction(roll());
        if (action === 'garbage') injectedGarbage++;
        const outcome = await pool.transform(new Response(`${id}:${action}`)).then(
          async (response) => ({ status: response.status, body: await response.text() }),
          (error: unknown) => error,
        );
        if (!(outcome instanceof TransformError)) {
          // Whatever succeeds is the answer to this request, and no other.
          expect(outcome).toEqual({ status: 200, body: `echo ${id}` });
          expect(['ok', 'garbage']).toContain(action);
          tally[action === 'ok' ? 'ok' : 'garbage']++;
          continue;
        }
        const expected = { crash: 502, hang: 504, twice: 502, ok: 502, garbage: 502 }[action];
        expect(outcome.status).toBe(expected);
        if (action === 'ok' || action === 'garbage') {
          // Stray bytes from a garbage writer can land in the next transform on that process: it fails, never misanswers.
          expect(outcome.code).toBe('ERR_TRANSFORM_PROTOCOL');
          tally.collateral++;
        } else tally[action]++;
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const stats = pool.stats();
    expect(stats.ok + stats.failed).toBe(total);
    expect(tally.crash + tally.hang + tally.twice).toBeGreaterThan(50);
    // Each stray write fails at most one transform: its own (bytes left over) or the next on that process.
    expect(tally.collateral).toBeLessThanOrEqual(injectedGarbage);
    expect(tally.ok).toBeGreaterThan(total * 0.98);
  }, 180_000);
});
