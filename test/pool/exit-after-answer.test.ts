// Output already in the pipe is delivered before the process's exit is acted on (row 9 of the isolation
// table), under the runtime that runs this file: test/run.mjs runs it under Node, Bun and Deno. The fixtures
// run on the system Node whatever the runtime: what matters here is the parent's.
import { describe, expect, it } from 'vitest';
import { createTransformPool } from '../../src/index.ts';
import { fixture, track } from '../_utils.ts';

const PAD = 256 * 1024;

/** The text of a transform's answer, or `rejected <code>` when the transform or its body fails. */
function outcomeOf(promise: Promise<Response>): Promise<string> {
  return promise
    .then((response) => response.text())
    .catch((error: { code?: string }) => `rejected ${error.code}`);
}

/** Wait until `check` holds, polling; 30 s at most, a bound the test never comes near unless it is broken. */
async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('until: still false after 30 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('an answer written whole before its process exits', () => {
  for (const framing of ['length', 'eof']) {
    it(`is delivered whole: Connection: close (${framing === 'length' ? 'with a length' : 'to the end of output'}) then exit`, async () => {
      const pool = track(
        createTransformPool({
          command: ['node', fixture('close-then-exit.mjs'), framing],
          processes: 1,
          env: { PAD: String(PAD) },
          stderr: 'ignore',
          onEvent: () => {},
        }),
      );
      for (let round = 0; round < 10; round++) {
        // Each message to a fresh process, so none meets one that is exiting.
        await until(() => pool.stats().exited === round && pool.stats().alive === 1);
        const outcome = await outcomeOf(pool.transform(new Response(`round ${round}`)));
        expect(outcome).toBe(`round ${round}${'x'.repeat(PAD)}`);
      }
    });
  }

  it('is delivered whole when it exits with a message written behind it (pipeline set)', async () => {
    for (let round = 0; round < 5; round++) {
      // A pool per round: the process that runs the message behind again has answered once already.
      const pool = track(
        createTransformPool({
          command: ['node', fixture('answers-then-exits.mjs')],
          processes: 1,
          pipeline: 2,
          env: { PAD: String(PAD) },
          stderr: 'ignore',
          onEvent: () => {},
        }),
      );
      // Its first answer, then a (with b written behind it), then it exits.
      expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('answered warm');
      const [a, b] = await Promise.all(
        ['a', 'b'].map((body) => outcomeOf(pool.transform(new Response(body)))),
      );
      expect(a).toBe(`answered a${'x'.repeat(PAD)}`);
      // b was written behind a to a process that then exited: it may have been read, so it fails, or it is
      // run again on the next process; never a wrong answer.
      expect(['answered b', 'rejected ERR_TRANSFORM_EXIT']).toContain(b);
      await pool.close();
    }
  });

  it('is delivered whole when it exits while a large message behind it is still being written', async () => {
    const big = 'b'.repeat(4 * 1024 * 1024);
    for (let round = 0; round < 5; round++) {
      const pool = track(
        createTransformPool({
          command: ['node', fixture('answers-then-exits.mjs')],
          processes: 1,
          pipeline: 2,
          // It answers a as soon as a is read, and exits: the writes of the message behind fail (EPIPE).
          env: { PAD: String(PAD), WAIT_MS: '0' },
          stderr: 'ignore',
          onEvent: () => {},
        }),
      );
      expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('answered warm');
      const [a, b] = await Promise.all(
        ['a', big].map((body) => outcomeOf(pool.transform(new Response(body)))),
      );
      expect(a).toBe(`answered a${'x'.repeat(PAD)}`);
      expect(b === `answered ${big}` || b === 'rejected ERR_TRANSFORM_EXIT').toBe(true);
      await pool.close();
    }
  });
});
