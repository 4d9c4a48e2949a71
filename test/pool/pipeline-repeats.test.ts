// Issue row 4 where a process holds several messages (it announced `Transform-Pipeline`, or the user set
// `pipeline`): a message answered twice, the repeat landing while the next client's message is the one being
// answered. The repeat names the culprit: it fails, the innocent behind it is run again and answered, and no
// byte of one reaches the other.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTransformPool, type PoolOptions, type ProcessEvent } from '../../src/index.ts';
import { nodeFixture, outcomeOf, track } from '../_utils.ts';

let folder: string | undefined;
afterEach(() => {
  if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  folder = undefined;
});

/**
 * One mixes-clients.mjs process, warm. It holds a message until the next arrives (3 s at most: ten times the fixture's own default
 * on a loaded machine), so a culprit's answer, its repeat and the innocent's answer go out in one write.
 */
async function createWarmPool(options: Partial<PoolOptions>, env: Record<string, string> = {}) {
  folder = mkdtempSync(join(tmpdir(), 'pipeline-repeats-'));
  const log = join(folder, 'reads.log');
  const events: ProcessEvent[] = [];
  const pool = track(
    createTransformPool({
      command: nodeFixture('mixes-clients.mjs'),
      processes: 1,
      stderr: 'ignore',
      onEvent: (event) => events.push(event),
      env: { READ_LOG: log, HOLD_MS: '3000', ...env },
      ...options,
    }),
  );
  // Held 3 s for a second message that never comes: the one cost of the margin.
  expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('answered warm');
  const readsOf = (body: string) =>
    readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line.slice(0, line.lastIndexOf(' ')) === body).length;
  return { pool, events, readsOf };
}

const CASES: [string, Partial<PoolOptions>, Record<string, string>][] = [
  ['with `pipeline` set by the user', { pipeline: 4 }, {}],
  ['with `Transform-Pipeline` announced by a raw transform', {}, { ANNOUNCE_PIPELINE: '1' }],
];

describe.each(CASES)('row 4, several messages on one process, %s', (_, options, env) => {
  it('a message answered twice fails; the innocent being answered when the repeat came is run again and answered', async () => {
    const { pool, events, readsOf } = await createWarmPool(options, env);
    expect(pool.stats().processes.map((process) => process.pipeline)).toEqual([4]);
    // "stale-next" is answered, then its answer again, then the innocent's: one write, one read.
    const [culprit, innocent] = await Promise.all([
      outcomeOf(pool.transform(new Response('stale-next'))),
      outcomeOf(pool.transform(new Response('innocent'))),
    ]);
    // The culprit is not run again (it would answer twice again, beside whoever is behind it); the innocent
    // was read by the process that was stopped, then once more: the trust rule of `pipeline`.
    expect({ culprit, innocent, reads: [readsOf('stale-next'), readsOf('innocent')] }).toEqual({
      culprit: 'rejected ERR_TRANSFORM_PROTOCOL',
      innocent: 'answered innocent',
      reads: [1, 2],
    });
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 1, started: 2 });
    const errors = events.filter((event) => event.type === 'protocol-error');
    expect(errors).toHaveLength(1);
  });
});
