import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createTransformPool,
  type PoolOptions,
  type ProcessEvent,
  type TransformPool,
} from '../../src/index.ts';
import { fixture, isRunning, listProcesses, track } from '../_utils.ts';

/** Filters that print their own pid (after reading the body): the pid that served a response. */
const PRINT_PID = ['sh', '-c', 'cat >/dev/null; echo $$'];

async function waitFor(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}

async function run(pool: TransformPool, body: BodyInit = 'x', request?: Request): Promise<string> {
  return (await pool.transform(new Response(body), { request })).text();
}

/**
 * A pool whose filters' events are kept: the spares live inside the pool's filter child (one, so which
 * filter serves which response is certain), and their pids are known from their `spawn` events.
 */
function createPool(options: Omit<PoolOptions, 'protocol' | 'onEvent'>): {
  pool: TransformPool;
  events: ProcessEvent[];
} {
  const events: ProcessEvent[] = [];
  const pool = track(
    createTransformPool({
      processes: 1,
      ...options,
      protocol: 'body',
      onEvent: (event) => events.push(event),
    }),
  );
  return { pool, events };
}

const spawned = (events: ProcessEvent[]): number[] =>
  events.filter((event) => event.type === 'spawn').map((event) => event.pid);

/** The pids of the filters started so far, once `count` were: the last `spares` of them wait ready. */
async function waitForSpawns(events: ProcessEvent[], count: number): Promise<number[]> {
  expect(await waitFor(() => spawned(events).length >= count)).toBe(true);
  return spawned(events);
}

const groups = new Set<number>();
afterEach(() => {
  for (const group of groups) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // Gone, as it should be.
    }
  }
  groups.clear();
});

describe('body filters started ahead', () => {
  it('starts none before a filter ran, then keeps two ready, and serves each response with a spare used once', async () => {
    const { pool, events } = createPool({ command: PRINT_PID });
    expect(spawned(events)).toEqual([]);
    const first = Number(await run(pool));
    const [fresh, ...spares] = await waitForSpawns(events, 3);
    expect(fresh).toBe(first);
    expect(spares).toHaveLength(2);
    // The oldest spare serves the next response, the other the one after: never the same process twice.
    expect(Number(await run(pool))).toBe(spares[0]);
    expect(Number(await run(pool))).toBe(spares[1]);
    const served = new Set([first, ...spares]);
    for (let i = 0; i < 4; i++) served.add(Number(await run(pool)));
    expect(served.size).toBe(7);
    expect(pool.stats()).toMatchObject({ ok: 7, failed: 0 });
  });

  it('never has more than processes alive, counting busy and ready ones', async () => {
    const pool = track(createTransformPool({ protocol: 'body', command: ['cat'], processes: 1 }));
    await run(pool);
    expect(pool.stats().alive).toBe(1);
    let release!: () => void;
    const held = new ReadableStream<Uint8Array>({
      start: (controller) => {
        release = () => controller.close();
      },
    });
    const result = pool.transform(new Response(held));
    expect(await waitFor(() => pool.stats().busy === 1)).toBe(true);
    // Let a refill that should not happen have its chance: it is scheduled with setImmediate.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(pool.stats()).toMatchObject({ alive: 1, busy: 1, idle: 0, starting: 0 });
    release();
    expect(await (await result).text()).toBe('');
  });

  it('never hands out a spare that died waiting: the next response goes to a fresh filter', async () => {
    const { pool, events } = createPool({ command: PRINT_PID });
    await run(pool);
    const spares = (await waitForSpawns(events, 3)).slice(1);
    for (const pid of spares) process.kill(pid, 'SIGKILL');
    const exits = () => events.filter((event) => event.type === 'exit');
    expect(await waitFor(() => exits().length === 2)).toBe(true);
    const pid = Number(await run(pool));
    expect(spares).not.toContain(pid);
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 0 });
    // In either order: the child hears of the two deaths as it reaps them.
    expect(exits().map((event) => [event.pid, event.signal, event.reason])).toEqual(
      expect.arrayContaining(spares.map((spare) => [spare, 'SIGKILL', 'crash'])),
    );
    expect(exits()).toHaveLength(2);
    // A spare's death pauses refilling until a filter ran: then two wait again.
    const again = (await waitForSpawns(events, 6)).slice(4);
    expect(again.filter((spare) => spares.includes(spare))).toEqual([]);
  });

  it('a spare killed from outside just before a burst costs no response: all 8 are answered', async () => {
    const { pool, events } = createPool({ command: PRINT_PID, processes: 2 });
    await Promise.all([run(pool), run(pool)]);
    await waitForSpawns(events, 6);
    // Two spares wait in each child; two of the four die now, and the burst meets them before their children
    // can have reaped them.
    const spares = spawned(events).filter(isRunning);
    expect(spares).toHaveLength(4);
    const doomed = spares.slice(1, 3);
    for (const pid of doomed) process.kill(pid, 'SIGKILL');
    const answers = await Promise.all(Array.from({ length: 8 }, () => run(pool)));
    expect(answers.map(Number).filter((pid) => doomed.includes(pid))).toEqual([]);
    expect(new Set(answers).size).toBe(8);
    expect(pool.stats()).toMatchObject({ ok: 10, failed: 0 });
  });

  it('gives the response to a fresh filter when its spare took the input in the pipe and was SIGKILLed before reading the rest', async () => {
    // The spare that takes the response reads one byte (so the write went into its pipe: no failed write
    // tells), and, armed by the test, is killed then: the body is still whole in hand and goes to a new filter.
    const folder = mkdtempSync(join(tmpdir(), 'spare-killed-'));
    try {
      const armed = join(folder, 'armed');
      const command = [
        'sh',
        '-c',
        'dd bs=1 count=1 of=/dev/null 2>/dev/null; if rmdir "$0" 2>/dev/null; then kill -9 $$; fi; cat >/dev/null; echo $$',
        armed,
      ];
      const { pool, events } = createPool({ command });
      await run(pool);
      const spares = (await waitForSpawns(events, 3)).slice(1);
      mkdirSync(armed);
      const served = Number(await run(pool, 'x'.repeat(100)));
      expect(existsSync(armed)).toBe(false);
      expect(spares).not.toContain(served);
      expect(pool.stats()).toMatchObject({ ok: 2, failed: 0 });
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('close() ends the spares and waits for them', async () => {
    const { pool, events } = createPool({ command: ['cat'], processes: 2 });
    await run(pool);
    const spares = (await waitForSpawns(events, 3)).slice(1);
    expect(spares.filter(isRunning)).toEqual(spares);
    await pool.close();
    expect(await waitFor(() => spares.filter(isRunning).length === 0)).toBe(true);
    expect(pool.stats().alive).toBe(0);
  });

  it('reload() replaces the spares', async () => {
    const { pool, events } = createPool({ command: PRINT_PID });
    await run(pool);
    const old = await waitForSpawns(events, 3);
    await pool.reload();
    expect(await waitFor(() => old.filter(isRunning).length === 0)).toBe(true);
    // The new child starts its spares once a filter of its own ran.
    const first = Number(await run(pool));
    expect(old).not.toContain(first);
    const fresh = (await waitForSpawns(events, 6)).slice(4);
    expect(fresh.filter((pid) => old.includes(pid))).toEqual([]);
    expect(Number(await run(pool))).toBe(fresh[0]);
  });

  it('starts no spare for a command that cannot start, and stops refilling once one fails to', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'spares-'));
    try {
      const { pool, events } = createPool({
        command: ['cat'],
        cwd,
        requestContext: false,
        stderr: 'ignore',
      });
      await run(pool);
      const spares = (await waitForSpawns(events, 3)).slice(1);
      // The folder gone, every start fails: each response fails once, and nothing spawns in between.
      rmSync(cwd, { recursive: true });
      for (const pid of spares) process.kill(pid, 'SIGKILL');
      expect(await waitFor(() => events.filter((event) => event.type === 'exit').length === 2)).toBe(true);
      for (let i = 0; i < 3; i++) {
        await expect(pool.transform(new Response('x'))).rejects.toMatchObject({
          code: 'ERR_TRANSFORM_SPAWN',
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(events.map((event) => event.type)).toEqual([
        'spawn',
        'spawn',
        'spawn',
        'exit',
        'exit',
        'spawn-error',
        'spawn-error',
        'spawn-error',
      ]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('logs a spare that cannot be started once, and starts no other until a filter runs', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'spares-'));
    try {
      // sh says "getcwd() failed" once its folder is gone: expected, not worth a line in the output.
      const { pool, events } = createPool({ command: ['cat'], cwd, stderr: 'ignore' });
      await run(pool);
      await waitForSpawns(events, 3);
      rmSync(cwd, { recursive: true });
      // Both responses meet the spares started before: they run. Their replacements cannot start.
      expect(await run(pool, 'one')).toBe('one');
      expect(await run(pool, 'two')).toBe('two');
      expect(await waitFor(() => events.some((event) => event.type === 'spawn-error'))).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(events.filter((event) => event.type === 'spawn-error')).toEqual([
        { type: 'spawn-error', command: 'cat', reason: expect.stringContaining('ENOENT') },
      ]);
      expect(events.filter((event) => event.type === 'spawn')).toHaveLength(3);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('gives no response to a spare whose command file is gone: the spawn reports ENOENT, as without spares', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'spares-'));
    const filter = join(folder, 'upper');
    writeFileSync(filter, '#!/bin/sh\nexec tr a-z A-Z\n', { mode: 0o755 });
    try {
      const { pool, events } = createPool({ command: [filter] });
      expect(await run(pool, 'abc')).toBe('ABC');
      const spares = (await waitForSpawns(events, 3)).slice(1);
      rmSync(filter);
      await expect(pool.transform(new Response('x'))).rejects.toMatchObject({
        code: 'ERR_TRANSFORM_SPAWN',
        message: `Body filter "${filter}" could not be started: spawn ${filter} ENOENT`,
      });
      expect(await waitFor(() => spares.filter(isRunning).length === 0)).toBe(true);
      const exits = () => events.filter((event) => event.type === 'exit');
      expect(await waitFor(() => exits().length === 2)).toBe(true);
      expect(exits().map((event) => event.reason)).toEqual(['reload', 'reload']);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('gives a spare the request method and URL of its response', async () => {
    const { pool, events } = createPool({
      command: ['sh', '-c', 'cat; echo " $$ $TRANSFORM_REQUEST_METHOD $TRANSFORM_REQUEST_URL"'],
    });
    await run(pool, 'a');
    const spares = (await waitForSpawns(events, 3)).slice(1);
    const post = new Request('http://example.test/p?q=1 2', { method: 'POST' });
    expect(await run(pool, 'line one\nline two\n', post)).toBe(
      `line one\nline two\n ${spares[0]} POST http://example.test/p?q=1%202\n`,
    );
    // No request: no variables, and the body still arrives whole.
    expect(await run(pool, '\n\nbody')).toBe(`\n\nbody ${spares[1]}  \n`);
  });

  it('runs the filter itself ahead when requestContext is false: no variables', async () => {
    const { pool, events } = createPool({
      command: ['sh', '-c', 'cat; echo " $$ $(printenv TRANSFORM_REQUEST_METHOD || echo unset)"'],
      requestContext: false,
    });
    await run(pool);
    const [spare] = (await waitForSpawns(events, 3)).slice(1);
    const request = new Request('http://example.test/', { method: 'PUT' });
    expect(await run(pool, 'x', request)).toBe(`x ${spare} unset\n`);
  });

  it('passes 10 MiB through a spare cat intact, and holds back the input while the output is unread', async () => {
    const { pool, events } = createPool({ command: ['cat'] });
    await run(pool);
    await waitForSpawns(events, 3);
    const chunk = new Uint8Array(1 << 16).map((_, i) => (i * 7) % 253);
    const total = 160;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === total) controller.close();
        else {
          sent++;
          controller.enqueue(chunk.slice());
        }
      },
    });
    const response = await pool.transform(new Response(body));
    // Unread, the output fills the pipes and cat stops reading: the input stops being pulled.
    let last = -1;
    await waitFor(() => {
      const stable = sent === last;
      last = sent;
      return stable && sent > 0;
    });
    expect(sent).toBeLessThan(total / 2);
    let length = 0;
    let wrong = 0;
    for await (const part of response.body as unknown as AsyncIterable<Uint8Array>) {
      for (let i = 0; i < part.length; i++) if (part[i] !== (((length + i) % (1 << 16)) * 7) % 253) wrong++;
      length += part.length;
    }
    expect(length).toBe(total << 16);
    expect(wrong).toBe(0);
  });
});

describe('spares do not outlive their parent', () => {
  it('are killed with their groups when the parent is SIGKILLed', async () => {
    const mark = join(mkdtempSync(join(tmpdir(), 'spare-parent-')), 'mark');
    const parent = execa(process.execPath, [fixture('spare-parent.mjs'), mark], { reject: false });
    try {
      const spares = await new Promise<number[]>((resolve) => {
        parent.stdout?.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as number[]));
      });
      for (const pid of spares) groups.add(pid);
      expect(spares).toHaveLength(2);
      parent.kill('SIGKILL');
      await parent;
      // Each spare's stdin ended with its parent: it would sleep for 300 s unless its group is killed.
      const inGroups = (): number[] =>
        listProcesses()
          .filter((info) => spares.includes(info.pgrp) && info.state !== 'Z')
          .map((info) => info.pid);
      expect(await waitFor(() => inGroups().length === 0)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
      rmSync(join(mark, '..'), { recursive: true, force: true });
    }
  });
});
