import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { createTransformPool, type ProcessEvent } from '../../src/index.ts';
import { describeEvent, describeStrayOutput, excerptOutput } from '../../src/shared/events.ts';
import { fixture, nodeFixture, track } from '../_utils.ts';

function recorder(): { events: ProcessEvent[]; onEvent: (event: ProcessEvent) => void } {
  const events: ProcessEvent[] = [];
  return { events, onEvent: (event) => events.push(event) };
}

async function settle(promise: Promise<Response>): Promise<unknown> {
  return promise.then(
    (response) => response.text(),
    (error: unknown) => error,
  );
}

describe('process events', () => {
  it('reports a spawn, and a crash with its exit code and reason', async () => {
    const { events, onEvent } = recorder();
    const pool = track(
      createTransformPool({
        command: nodeFixture('crash-before-output.mjs'),
        processes: 1,
        stderr: 'ignore',
        onEvent,
      }),
    );
    await settle(pool.transform(new Response('crash')));
    await pool.close();
    const [first] = events;
    expect(first).toMatchObject({
      type: 'spawn',
      command: expect.stringContaining('crash-before-output.mjs'),
    });
    const crash = events.find((event) => event.type === 'exit' && event.pid === first?.pid);
    expect(crash).toEqual({
      type: 'exit',
      pid: first?.pid,
      command: first?.command,
      code: 1,
      signal: undefined,
      reason: 'crash',
    });
    // The replacement started, and was closed as a routine exit.
    const replacement = events.filter((event) => event.type === 'spawn')[1];
    expect(replacement).toBeDefined();
    expect(events.at(-1)).toMatchObject({ type: 'exit', pid: replacement?.pid, reason: 'close' });
  });

  it('reports a protocol error with the offending bytes escaped, then the kill', async () => {
    const { events, onEvent } = recorder();
    const pool = track(
      createTransformPool({ command: nodeFixture('garbage-when-idle.mjs'), processes: 1, onEvent }),
    );
    expect(await settle(pool.transform(new Response('garbage')))).toBe('garbage');
    const protocol = await new Promise<ProcessEvent>((resolve) => {
      const check = setInterval(() => {
        const found = events.find((event) => event.type === 'protocol-error');
        if (found !== undefined) {
          clearInterval(check);
          resolve(found);
        }
      }, 10);
    });
    expect(protocol).toMatchObject({
      type: 'protocol-error',
      bytes: 'HTTP/1.1 200 OK\\r\\nContent-Length: 6\\r\\n\\r\\nsmuggled',
      message: expect.stringContaining('wrote output while no transform was in flight'),
    });
    await pool.close();
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'exit', pid: protocol.pid, reason: 'protocol' }),
    );
  });

  it('reports a Transform-Error reason and keeps the process', async () => {
    const { events, onEvent } = recorder();
    const pool = track(
      createTransformPool({
        command: nodeFixture('transform-error.mjs'),
        processes: 1,
        stderr: 'ignore',
        onEvent,
      }),
    );
    await settle(pool.transform(new Response('fail')));
    expect(events.filter((event) => event.type === 'transform-error')).toEqual([
      expect.objectContaining({ reason: 'cannot render this one' }),
    ]);
    expect(events.filter((event) => event.type === 'exit')).toEqual([]);
  });

  it('reports the start backoff of a process that keeps dying at start', async () => {
    const { events, onEvent } = recorder();
    const pool = track(
      createTransformPool({
        command: nodeFixture('crash-at-start.mjs'),
        env: { COUNTER_FILE: `/tmp/events-counter-${process.pid}-${Date.now()}` },
        processes: 1,
        stderr: 'ignore',
        onEvent,
      }),
    );
    const backoff = await new Promise<ProcessEvent>((resolve) => {
      const check = setInterval(() => {
        const found = events.find((event) => event.type === 'backoff');
        if (found !== undefined) {
          clearInterval(check);
          resolve(found);
        }
      }, 10);
    });
    expect(backoff).toMatchObject({ type: 'backoff', failures: 2, delay: 100 });
    await pool.close();
  });

  it('logs every start failure of a command that cannot be spawned with its cause, and no pid', async () => {
    const missing = fixture('missing-interpreter.sh');
    const { events, onEvent } = recorder();
    const pool = track(createTransformPool({ command: [missing], processes: 1, onEvent }));
    const error = await settle(pool.transform(new Response('x')));
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_SPAWN' });
    const backoff = await new Promise<ProcessEvent>((resolve) => {
      const check = setInterval(() => {
        const found = events.find((event) => event.type === 'backoff');
        if (found !== undefined) {
          clearInterval(check);
          resolve(found);
        }
      }, 10);
    });
    await pool.close();
    // One spawn-error per failed spawn, the first one included, each naming the cause.
    const failures = events.filter((event) => event.type === 'spawn-error');
    expect(failures.length).toBeGreaterThanOrEqual(2);
    for (const event of failures) {
      expect(event).toEqual({
        type: 'spawn-error',
        command: missing,
        reason: expect.stringContaining('ENOENT'),
      });
    }
    expect(events.indexOf(failures[0] as ProcessEvent)).toBeLessThan(events.indexOf(backoff));
    // No process, so no pid at all: neither 0 nor undefined as a key.
    expect('pid' in backoff).toBe(false);
    expect(describeEvent(backoff)).toMatch(/^transform ".*\/missing-interpreter\.sh" could not be started: /);
    expect(describeEvent(failures[0] as ProcessEvent)).toContain('ENOENT');
  });

  it('names the timer that killed a process and its value, and hints at flushing when nothing was written', async () => {
    const { events, onEvent } = recorder();
    // A Python transform that never flushes: its answers sit in its stdout buffer (unless the environment
    // says PYTHONUNBUFFERED, as some CI images do).
    const unflushed = track(
      createTransformPool({
        env: { PYTHONUNBUFFERED: undefined },
        command: ['python3', fixture('unflushed.py')],
        processes: 1,
        startTimeout: 300,
        onEvent,
      }),
    );
    expect(await settle(unflushed.transform(new Response('x')))).toMatchObject({
      code: 'ERR_TRANSFORM_TIMEOUT',
    });
    const hung = track(
      createTransformPool({ command: nodeFixture('hang.mjs'), processes: 1, timeout: 300, onEvent }),
    );
    expect(await (await hung.transform(new Response('x'))).text()).toBe('x');
    expect(await settle(hung.transform(new Response('hang')))).toMatchObject({
      code: 'ERR_TRANSFORM_TIMEOUT',
    });
    await Promise.all([unflushed.close(), hung.close()]);
    const exits = events.filter((event) => event.type === 'exit' && event.reason === 'timeout');
    expect(exits.map((event) => event.type === 'exit' && event.timer)).toEqual([
      { option: 'startTimeout', ms: 300, silent: true },
      { option: 'timeout', ms: 300, silent: false },
    ]);
    expect(exits.map((event) => describeEvent(event)?.replace(/\(pid \d+\)/, '(pid N)'))).toEqual([
      `transform "python3 ${fixture('unflushed.py')}" (pid N) was killed with SIGTERM (timeout: no answer within startTimeout, 300 ms from its start; it wrote nothing to stdout: a transform must flush its output after each answer)`,
      `transform "${nodeFixture('hang.mjs').join(' ')}" (pid N) was killed with SIGTERM (timeout: silent for timeout, 300 ms)`,
    ]);
  });

  it('shows a protocol error from the start of its line, never before the message, and hints at stray output', () => {
    const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
    const head = 'HTTP/1.1 200 OK\r\nX-Field: y\nrest';
    expect(excerptOutput(bytes(head), head.indexOf('\n', 20), 0)).toBe('X-Field: y\\nrest');
    expect(excerptOutput(bytes('debug: here\n'), 11, 0)).toBe('debug: here\\n');
    // A body's bytes ahead of the message that broke are not shown.
    expect(excerptOutput(bytes('body-byteGARBAGE'), 9, 9)).toBe('GARBAGE');
    expect(describeStrayOutput(bytes(head))).toBe('');
    expect(describeStrayOutput(bytes('HTTP'))).toBe('');
    expect(describeStrayOutput(new Uint8Array(0))).toBe('');
    expect(describeStrayOutput(bytes('debug: here\n'))).toBe(
      '; this output is not an answer: stray output on stdout (a debug print, a banner) is the likely cause, write logs to stderr',
    );
  });

  it('publishes every event on the subprocess-transform:process diagnostics channel', async () => {
    const published: unknown[] = [];
    const listener = (message: unknown): void => {
      published.push(message);
    };
    subscribe('subprocess-transform:process', listener);
    try {
      const pool = track(createTransformPool({ command: 'cat', processes: 1, onEvent: () => {} }));
      await settle(pool.transform(new Response('x')));
      await pool.close();
    } finally {
      unsubscribe('subprocess-transform:process', listener);
    }
    expect(published.map((event) => (event as ProcessEvent).type)).toEqual(['spawn', 'exit']);
  });

  it('without onEvent, prints one line each for a crash and a Transform-Error, and nothing routine', async () => {
    const { stderr, exitCode } = await execa(process.execPath, [fixture('events-parent.mjs')], {
      reject: false,
    });
    expect(exitCode).toBe(0);
    const lines = stderr.split('\n').filter((line) => line.startsWith('subprocess-transform:'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^subprocess-transform: transform ".*crash-before-output\.mjs" \(pid \d+\) exited with code 1 \(crash\)$/,
    );
    expect(lines[1]).toMatch(
      /^subprocess-transform: transform ".*transform-error\.mjs" \(pid \d+\) could not transform a response: cannot render this one$/,
    );
  });
});
