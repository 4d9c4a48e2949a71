// A misbehaving process costs at most the request it was handling: the request that happens to be sent to it
// next, which it provably never read (it was found dead first, or it was killed for another message's
// fault), is retried once on a fresh process instead of failing with it.
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProcessEvent } from '../../src/index.ts';
import { createTransformPool } from '../../src/index.ts';
import {
  createLogFile,
  createObservedPool,
  createPool,
  hasEnded,
  linesOf,
  nodeFixture,
  outcomeOf,
  sleep,
  track,
  waitFor,
} from '../_utils.ts';

const encoder = new TextEncoder();

/**
 * Wait for `check` without yielding to the event loop, so the pool cannot hear of what happened before the
 * next call: the race a message sent at that moment meets. 10 s at most.
 */
function spinUntil(check: () => boolean): void {
  const deadline = Date.now() + 10_000;
  while (!check()) if (Date.now() > deadline) throw new Error('spinUntil: still false after 10 s');
}

/** A body bigger than any pipe takes in one write. */
const BIG = 'x'.repeat(200 * 1024);

describe('the request after a misbehaving answer', () => {
  it('is retried when the process was found dead, by its exit, before the message was written', async () => {
    const pool = createPool({ command: nodeFixture('exits-after-answer.mjs') });
    for (let round = 0; round < 3; round++) {
      expect(await outcomeOf(pool.transform(new Response(`body ${round}`)))).toBe(`body ${round}`);
      // Every process that answered is dead (a zombie), and the pool not yet told: the message meets a
      // process that is gone.
      const served = pool.stats().processes.filter((process) => process.state !== 'starting');
      spinUntil(() => served.every((process) => hasEnded(process.pid)));
      expect(await outcomeOf(pool.transform(new Response(BIG)))).toBe(BIG);
      const big = pool.stats().processes.filter((process) => process.state !== 'starting');
      spinUntil(() => big.every((process) => hasEnded(process.pid)));
      await sleep(100);
    }
    expect(pool.stats()).toMatchObject({ ok: 6, failed: 0 });
  });

  it('fails, never retried, when the process may have read it: it exits with code 0 as the message arrives', async () => {
    const pool = createPool({ command: nodeFixture('exits-after-answer.mjs') });
    const bodies = Array.from({ length: 8 }, (_, index) => `body ${index}`);
    const outcomes = await Promise.all(bodies.map((body) => outcomeOf(pool.transform(new Response(body)))));
    // Each message goes to a process that exits right after its answer: written before the exit is heard, it
    // fails (the parent cannot tell it was not read); heard first, it is retried. Never a wrong answer.
    outcomes.forEach((outcome, index) => {
      expect([`body ${index}`, 'rejected ERR_TRANSFORM_EXIT']).toContain(outcome);
    });
    expect(outcomes[0]).toBe('body 0');
    expect(pool.stats()).toMatchObject({
      ok: outcomes.filter((outcome) => outcome.startsWith('body')).length,
    });
  });

  it('is retried when a stale second answer to the message before arrives ahead of its own', async () => {
    const pool = createPool({ command: nodeFixture('duplicate-before-next.mjs') });
    for (let round = 0; round < 5; round++) {
      expect(await outcomeOf(pool.transform(new Response('dup')))).toBe('echo dup');
      // Its process writes the stale duplicate first: it is killed, and this message runs on the next one.
      expect(await outcomeOf(pool.transform(new Response(`next ${round}`)))).toBe(`echo next ${round}`);
    }
    expect(pool.stats()).toMatchObject({ ok: 10, failed: 0, exited: 5 });
  });

  it('is retried when a stale answer arrives two messages late, an id answered before the previous one', async () => {
    const pool = createPool({ command: nodeFixture('stale-two-back.mjs') });
    for (let round = 0; round < 3; round++) {
      expect(await outcomeOf(pool.transform(new Response(`a${round}`)))).toBe(`echo a${round}`);
      expect(await outcomeOf(pool.transform(new Response(`b${round}`)))).toBe(`echo b${round}`);
      // Its process writes the answer to a<round> again first: killed, and this message runs on the next one.
      expect(await outcomeOf(pool.transform(new Response('replay')))).toBe('echo replay');
    }
    expect(pool.stats()).toMatchObject({ ok: 9, failed: 0, started: 4 });
  });

  it('is retried when a stale repeat of an earlier answer follows its answer in the same read, at any distance', async () => {
    const events: ProcessEvent[] = [];
    const pool = createPool({
      command: nodeFixture('stale-behind-answer.mjs'),
      onEvent: (event) => events.push(event),
    });
    for (const distance of [1, 2, 5]) {
      for (let index = 0; index < distance; index++) {
        expect(await outcomeOf(pool.transform(new Response(`warm ${index}`)))).toBe(`echo warm ${index}`);
      }
      // Not its fault: its process is replaced, and it runs again on the next one.
      expect(await outcomeOf(pool.transform(new Response(`behind ${distance}`)))).toBe(
        `echo behind ${distance}`,
      );
    }
    expect(await outcomeOf(pool.transform(new Response('after')))).toBe('echo after');
    expect(pool.stats()).toMatchObject({ ok: 12, failed: 0, started: 4 });
    await pool.close();
    const errors = events.filter((event) => event.type === 'protocol-error');
    expect(errors.map((event) => (event as { message: string }).message)).toEqual(
      Array(3).fill(expect.stringMatching(/^wrote a second answer to a message it answered before/)),
    );
  });

  it('keeps an answer already handed out when a stale repeat comes right behind its last bytes', async () => {
    const pool = createPool({ command: nodeFixture('stale-behind-answer.mjs') });
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('echo warm');
    const pid = pool.stats().processes[0]?.pid as number;
    // Its head goes out first; only then (the signal) does the rest of its body come, with the stale repeat,
    // which replaces the process. A fixed pause instead let a loaded machine read both in one go.
    const response = await pool.transform(new Response('split behind 1'));
    process.kill(pid, 'SIGUSR2');
    expect(await outcomeOf(Promise.resolve(response))).toBe('echo split behind 1');
    expect(await outcomeOf(pool.transform(new Response('after')))).toBe('echo after');
    expect(pool.stats()).toMatchObject({ ok: 3, failed: 0, started: 2 });
  });

  it('fails when its own answer comes twice in one read: which of the two is meant cannot be told', async () => {
    const pool = createPool({ command: nodeFixture('stale-behind-answer.mjs') });
    expect(await outcomeOf(pool.transform(new Response('behind 0')))).toBe('rejected ERR_TRANSFORM_PROTOCOL');
    expect(await outcomeOf(pool.transform(new Response('next')))).toBe('echo next');
    expect(pool.stats()).toMatchObject({ ok: 1, failed: 1, started: 2 });
  });

  it('fails when output that is no answer follows its answer in the same read: the answer itself is in doubt', async () => {
    const pool = createPool({ command: nodeFixture('stale-behind-answer.mjs') });
    expect(await outcomeOf(pool.transform(new Response('junk')))).toBe('rejected ERR_TRANSFORM_PROTOCOL');
    expect(await outcomeOf(pool.transform(new Response('next')))).toBe('echo next');
    expect(pool.stats()).toMatchObject({ ok: 1, failed: 1, started: 2 });
  });

  it('still fails when the answer is not stale but wrong: a transform that crashes on its input is not retried', async () => {
    const pool = createPool({ command: nodeFixture('crash-before-output.mjs') });
    expect(await outcomeOf(pool.transform(new Response('crash')))).toBe('rejected ERR_TRANSFORM_EXIT');
    expect(pool.stats()).toMatchObject({ failed: 1 });
  });

  it('goes to a fresh process when the one it would have met closed its stdout while idle', async () => {
    // Ten minutes: a transform sent to the process with no stdout would wait that long, past the test's limit.
    const pool = createPool({ command: nodeFixture('closes-stdout.mjs'), timeout: 600_000 });
    expect(await outcomeOf(pool.transform(new Response('close')))).toBe('close');
    const pid = pool.stats().processes[0]?.pid as number;
    // Its stdout closed, and the pool not yet told.
    spinUntil(() => !existsSync(`/proc/${pid}/fd/1`));
    expect(await outcomeOf(pool.transform(new Response(BIG)))).toBe(BIG);
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 0 });
  });
});

describe('protocol errors', () => {
  it('are reported once each, however the rest of the output ends', async () => {
    const events: ProcessEvent[] = [];
    const pool = createPool({ command: nodeFixture('wrong-id.mjs'), onEvent: (event) => events.push(event) });
    for (let round = 0; round < 3; round++) {
      expect(await outcomeOf(pool.transform(new Response('wrong')))).toBe('rejected ERR_TRANSFORM_PROTOCOL');
    }
    await pool.close();
    expect(events.filter((event) => event.type === 'protocol-error')).toHaveLength(3);
    expect(events.filter((event) => event.type === 'exit' && event.reason === 'protocol')).toHaveLength(3);
  });
});

describe('a message is never read twice', () => {
  // Defect: TransformProcess retries a message whose process stopped with code 0 even after output began.
  it('when its answer had begun, it fails and is not retried on another process', async () => {
    const reads = createLogFile();
    const { pool } = createObservedPool(nodeFixture('logs-reads.mjs'), { env: { LOG_FILE: reads } });
    expect(await outcomeOf(pool.transform(new Response('PARTIAL')))).toMatch(
      /^rejected ERR_TRANSFORM_(EXIT|PROTOCOL)$/,
    );
    // A retry would have been read before the transform failed for good.
    expect(linesOf(reads)).toHaveLength(1);
  });

  // Defect: Exchange.onFailed() retries whatever was read of the handler's body (no `#taken <= 1`).
  it('when its streamed body was partly written, it fails and is not retried on another process', async () => {
    const reads = createLogFile();
    const { pool } = createObservedPool(nodeFixture('logs-reads.mjs'), { env: { LOG_FILE: reads } });
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode('first part'));
        // The second part only once the process has read the first, and the third once it exited.
        await waitFor(() => linesOf(reads).length === 1, 10_000);
        controller.enqueue(encoder.encode('<stop>'));
        await waitFor(() => pool.stats().exited === 1, 10_000);
        try {
          controller.enqueue(encoder.encode('third part'));
          controller.close();
        } catch {
          // Cancelled: the transform failed, as it must.
        }
      },
    });
    expect(await outcomeOf(pool.transform(new Response(body)))).toBe('rejected ERR_TRANSFORM_EXIT');
    expect(linesOf(reads)).toHaveLength(1);
    expect(pool.stats()).toMatchObject({ started: 2, exited: 1 });
  });
});

describe('a message that failed', () => {
  it('a retried streaming body reaches the new process whole', async () => {
    const lines: string[] = [];
    const pool = track(
      createTransformPool({
        command: nodeFixture('closes-stdin-when-idle.mjs'),
        processes: 1,
        stderr: (line) => lines.push(line),
      }),
    );
    expect(await outcomeOf(pool.transform(new Response('close')))).toBe('close');
    expect(await waitFor(() => lines.includes('stdin closed'))).toBe(true);
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode('A'));
        // The rest only once the pool has seen the dead process exit: a transform is retried only while no
        // more of the body was read than it can send again, and noticing the exit took over 100 ms under load.
        await waitFor(() => pool.stats().exited === 1);
        for (const part of ['B', 'C']) {
          controller.enqueue(encoder.encode(part));
          await sleep(100);
        }
        controller.close();
      },
    });
    expect(await outcomeOf(pool.transform(new Response(body)))).toBe('ABC');
    expect(pool.stats()).toMatchObject({ started: 2, failed: 0 });
  });

  it('an input that crashes its process is not sent to another one', async () => {
    const log = join(mkdtempSync(join(tmpdir(), 'st-')), 'crashes');
    appendFileSync(log, '');
    const pool = track(
      createTransformPool({
        command: ['sh', '-c', `head -c 1000 >/dev/null; echo "$$" >> ${log}; exit 3`],
        processes: 1,
        stderr: 'ignore',
      }),
    );
    expect(await outcomeOf(pool.transform(new Response(new Uint8Array(512 * 1024))))).toBe(
      'rejected ERR_TRANSFORM_EXIT',
    );
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
  });
});
