// The start backoff counts only processes that show they cannot start, never a failure caused by a message:
// poison input fails itself alone while innocent traffic flows, and a pool that cannot start fails fast.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProcessEvent } from '../../src/index.ts';
import { createObservedPool, createPool, nodeFixture, outcomeOf, waitFor } from '../_utils.ts';

describe('poison input', () => {
  it('a page whose head breaks the limits through cat fails alone; concurrent innocent traffic never fails', async () => {
    const events: ProcessEvent[] = [];
    const pool = createPool({ command: 'cat', processes: 2, onEvent: (event) => events.push(event) });
    // 300 fields: over maxHeaderCount (256) once cat echoes them back.
    const headers = Array.from({ length: 300 }, (_, index): [string, string] => [`x-field-${index}`, 'v']);
    const poison = () => outcomeOf(pool.transform(new Response('poison', { headers })));
    const innocent = (index: number) => outcomeOf(pool.transform(new Response(`good ${index}`)));
    // Eight poisoned pages first, so they meet fresh processes that have never answered, then the rest.
    const calls: Promise<string>[] = [];
    for (let index = 0; index < 40; index++) calls.push(index < 8 ? poison() : innocent(index));
    const outcomes = await Promise.all(calls);
    outcomes.forEach((outcome, index) => {
      expect(outcome).toBe(index < 8 ? 'rejected ERR_TRANSFORM_PROTOCOL' : `good ${index}`);
    });
    expect(events.filter((event) => event.type === 'backoff')).toEqual([]);
  });
});

describe('poison that crashes fresh processes', () => {
  it('eight crashing messages at once fail alone with ERR_TRANSFORM_EXIT; continuous innocent traffic never fails', async () => {
    const events: ProcessEvent[] = [];
    const pool = createPool({
      // Exits 1 without a byte of output when the body is "crash".
      command: nodeFixture('crash-before-output.mjs'),
      processes: 2,
      onEvent: (event) => events.push(event),
    });
    // Sent first, so they meet fresh processes one after another with no answer in between.
    const poison = Promise.all(
      Array.from({ length: 8 }, () => outcomeOf(pool.transform(new Response('crash')))),
    );
    let done = false;
    void poison.then(() => {
      done = true;
    });
    // Four clients send innocent pages one after another until every poisoned one has failed, and once more.
    const client = async (name: string): Promise<string[]> => {
      const failures: string[] = [];
      let sent = 0;
      for (let last = false; !last; ) {
        last = done;
        const body = `${name} ${sent++}`;
        const outcome = await outcomeOf(pool.transform(new Response(body)));
        if (outcome !== body) failures.push(`${body}: ${outcome}`);
        // A refusal settles in a microtask: let the processes' events in between.
        await new Promise((resolve) => setImmediate(resolve));
      }
      return failures;
    };
    const failures = await Promise.all(['a', 'b', 'c', 'd'].map(client));
    expect(await poison).toEqual(Array(8).fill('rejected ERR_TRANSFORM_EXIT'));
    expect(failures.flat()).toEqual([]);
    // They did delay new processes (a crash loop on every message looks the same), but briefly.
    const delays = events.flatMap((event) => (event.type === 'backoff' ? [event.delay] : []));
    expect(delays.length).toBeGreaterThan(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1000);
  });
});

describe('the start backoff', () => {
  it('fails fast for a command that exits at once at start', async () => {
    const events: ProcessEvent[] = [];
    const pool = createPool({
      command: nodeFixture('crash-at-start.mjs'),
      processes: 2,
      env: { COUNTER_FILE: join(mkdtempSync(join(tmpdir(), 'st-')), 'starts') },
      onEvent: (event) => events.push(event),
    });
    // Its processes die with nothing on board: the command cannot start whatever it is given.
    expect(await waitFor(() => events.some((event) => event.type === 'backoff'), 20_000)).toBe(true);
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, () => outcomeOf(pool.transform(new Response('x')))),
    );
    // At most one try each for processes that happen to be idle; the rest are refused at once.
    expect(
      outcomes.filter((outcome) => outcome === 'rejected ERR_TRANSFORM_SPAWN').length,
    ).toBeGreaterThanOrEqual(4);
    expect(outcomes.every((outcome) => /^rejected ERR_TRANSFORM_(SPAWN|EXIT)$/.test(outcome))).toBe(true);
  });

  it('resets once a process answers', async () => {
    const counter = join(mkdtempSync(join(tmpdir(), 'st-')), 'starts');
    const events: ProcessEvent[] = [];
    // Start 1 crashes, 2 answers (and dies when told), 3 and 4 crash, 5 answers.
    const pool = createPool({
      command: nodeFixture('start-script.mjs'),
      processes: 1,
      env: { COUNTER_FILE: counter, CRASH_AT: '1,3,4' },
      onEvent: (event) => events.push(event),
    });
    // Start 1 has crashed, and start 2 is up.
    expect(await waitFor(() => events.filter((event) => event.type === 'spawn').length === 2, 20_000)).toBe(
      true,
    );
    expect(await outcomeOf(pool.transform(new Response('die')))).toBe('die');
    expect(await waitFor(() => events.some((event) => event.type === 'backoff'), 20_000)).toBe(true);
    // Start 5, after the backoff, is the one that may show the command can start: it takes the next message.
    expect(await waitFor(() => pool.stats().started === 5, 20_000)).toBe(true);
    expect(await outcomeOf(pool.transform(new Response('after')))).toBe('after');
    // Without the reset, start 3 would be the second failure in a row and back off; with it, start 4 is.
    const backoffs = events.filter((event) => event.type === 'backoff');
    expect(backoffs).toHaveLength(1);
    expect(backoffs[0]).toMatchObject({ failures: 2 });
    expect(Number(readFileSync(counter, 'utf8'))).toBe(5);
  });

  it('records a kill by startTimeout before the replacement starts, and then fails fast', async () => {
    const events: ProcessEvent[] = [];
    const pool = createPool({
      // Never reads its input: a transform that hangs at start.
      command: nodeFixture('slow-boot.mjs', '600000'),
      processes: 1,
      startTimeout: 500,
      onEvent: (event) => events.push(event),
    });
    expect(await outcomeOf(pool.transform(new Response('one')))).toBe('rejected ERR_TRANSFORM_TIMEOUT');
    expect(await outcomeOf(pool.transform(new Response('two')))).toBe('rejected ERR_TRANSFORM_TIMEOUT');
    // Two start failures in a row: new work fails fast until a process answers (one may try the next process).
    const outcomes = await Promise.all(
      Array.from({ length: 4 }, () => outcomeOf(pool.transform(new Response('fast')))),
    );
    expect(
      outcomes.filter((outcome) => outcome === 'rejected ERR_TRANSFORM_SPAWN').length,
    ).toBeGreaterThanOrEqual(3);
    // The second kill was counted before its replacement was spawned: the backoff comes before the third spawn.
    const spawns = events.flatMap((event, index) => (event.type === 'spawn' ? [index] : []));
    const backoff = events.findIndex((event) => event.type === 'backoff');
    expect(backoff).toBeGreaterThan(-1);
    expect(spawns[2] === undefined || backoff < spawns[2]).toBe(true);
  });
});

describe('the start backoff, once a process has answered', () => {
  // Defect: StartBackoff.record() keeps counting after a process that answered (it never resets).
  it('counts failures in a row from zero again once a process has answered', async () => {
    const counter = join(mkdtempSync(join(tmpdir(), 'st-promises-')), 'starts');
    // Starts 1, 2, 4 and 5 crash at once; 3 and 6 serve (3 exits with code 1 on "crash", once it answered).
    const script = `n=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 )); echo $n > ${counter}; case $n in 1|2|4|5) exit 3;; esac; exec "$0" "$@"`;
    const { pool, events } = createObservedPool([
      'sh',
      '-c',
      script,
      ...nodeFixture('crash-before-output.mjs'),
    ]);
    const spawns = () => events.filter((event) => event.type === 'spawn').length;
    expect(await waitFor(() => spawns() === 3, 20_000)).toBe(true);
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('warm');
    expect(await outcomeOf(pool.transform(new Response('crash')))).toBe('rejected ERR_TRANSFORM_EXIT');
    expect(await waitFor(() => spawns() === 6, 20_000)).toBe(true);
    expect(await outcomeOf(pool.transform(new Response('after')))).toBe('after');
    expect(readFileSync(counter, 'utf8').trim()).toBe('6');
    // Two crashes in a row at most, before the process that answered and after it: never 3 or 4.
    const failures = events.flatMap((event) => (event.type === 'backoff' ? [event.failures] : []));
    expect(failures.length).toBeGreaterThan(0);
    for (const count of failures) expect(count).toBeLessThanOrEqual(2);
  });
});
