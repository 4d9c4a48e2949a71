import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { createTransformPool, type ProcessEvent, type TransformPool } from '../../src/index.ts';
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

/** The pids of the spares waiting ready, once `count` wait. */
async function waitForSpares(pool: TransformPool, count: number): Promise<number[]> {
  expect(await waitFor(() => pool.stats().idle === count)).toBe(true);
  return pool.stats().processes.map((process) => process.pid);
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
    const pool = track(createTransformPool({ protocol: 'body', command: PRINT_PID, processes: 4 }));
    expect(pool.stats().alive).toBe(0);
    await run(pool);
    const spares = await waitForSpares(pool, 2);
    expect(pool.stats()).toMatchObject({ alive: 2, busy: 0, idle: 2, starting: 0 });
    expect(pool.stats().processes.map((process) => process.state)).toEqual(['idle', 'idle']);
    // The oldest spare serves the next response, the other the one after: never the same process twice.
    expect(Number(await run(pool))).toBe(spares[0]);
    expect(Number(await run(pool))).toBe(spares[1]);
    const served = new Set(spares);
    for (let i = 0; i < 4; i++) served.add(Number(await run(pool)));
    expect(served.size).toBe(6);
  });

  it('never has more than processes alive, counting busy and ready ones', async () => {
    const pool = track(createTransformPool({ protocol: 'body', command: ['cat'], processes: 1 }));
    await run(pool);
    await waitForSpares(pool, 1);
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
    const events: ProcessEvent[] = [];
    const pool = track(
      createTransformPool({
        protocol: 'body',
        command: PRINT_PID,
        processes: 2,
        onEvent: (event) => events.push(event),
      }),
    );
    await run(pool);
    const spares = await waitForSpares(pool, 2);
    for (const pid of spares) process.kill(pid, 'SIGKILL');
    expect(await waitFor(() => pool.stats().alive === 0)).toBe(true);
    const pid = Number(await run(pool));
    expect(spares).not.toContain(pid);
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 0 });
    const exits = events.filter((event) => event.type === 'exit');
    // In either order: the parent hears of the two deaths as it reaps them.
    expect(exits.map((event) => [event.pid, event.signal, event.reason])).toEqual(
      expect.arrayContaining(spares.map((spare) => [spare, 'SIGKILL', 'crash'])),
    );
    expect(exits).toHaveLength(2);
    // A spare's death pauses refilling until a filter ran: then two wait again.
    expect((await waitForSpares(pool, 2)).filter((spare) => spares.includes(spare))).toEqual([]);
  });

  it('close() ends the spares and waits for them', async () => {
    const pool = createTransformPool({ protocol: 'body', command: ['cat'], processes: 2 });
    await run(pool);
    const spares = await waitForSpares(pool, 2);
    expect(spares.filter(isRunning)).toEqual(spares);
    await pool.close();
    expect(spares.filter(isRunning)).toEqual([]);
    expect(pool.stats().alive).toBe(0);
  });

  it('reload() replaces the spares', async () => {
    const pool = track(createTransformPool({ protocol: 'body', command: PRINT_PID, processes: 2 }));
    await run(pool);
    const old = await waitForSpares(pool, 2);
    await pool.reload();
    expect(old.filter(isRunning)).toEqual([]);
    const fresh = await waitForSpares(pool, 2);
    expect(fresh.filter((pid) => old.includes(pid))).toEqual([]);
    expect(Number(await run(pool))).toBe(fresh[0]);
  });

  it('starts no spare for a command that cannot start, and stops refilling once one fails to', async () => {
    const events: ProcessEvent[] = [];
    const cwd = mkdtempSync(join(tmpdir(), 'spares-'));
    try {
      const pool = track(
        createTransformPool({
          protocol: 'body',
          command: ['cat'],
          cwd,
          processes: 2,
          requestContext: false,
          stderr: 'ignore',
          onEvent: (event) => events.push(event),
        }),
      );
      await run(pool);
      const spares = await waitForSpares(pool, 2);
      // The folder gone, every start fails: each response fails once, and nothing spawns in between.
      rmSync(cwd, { recursive: true });
      for (const pid of spares) process.kill(pid, 'SIGKILL');
      expect(await waitFor(() => pool.stats().alive === 0)).toBe(true);
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
      expect(pool.stats().alive).toBe(0);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('logs a spare that cannot be started once, and starts no other until a filter runs', async () => {
    const events: ProcessEvent[] = [];
    const cwd = mkdtempSync(join(tmpdir(), 'spares-'));
    try {
      const pool = track(
        createTransformPool({
          protocol: 'body',
          command: ['cat'],
          cwd,
          processes: 2,
          // sh says "getcwd() failed" once its folder is gone: expected, not worth a line in the output.
          stderr: 'ignore',
          onEvent: (event) => events.push(event),
        }),
      );
      await run(pool);
      await waitForSpares(pool, 2);
      rmSync(cwd, { recursive: true });
      // Both responses meet the spares started before: they run. Their replacements cannot start.
      expect(await run(pool, 'one')).toBe('one');
      expect(await run(pool, 'two')).toBe('two');
      expect(await waitFor(() => pool.stats().alive === 0)).toBe(true);
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
    const events: ProcessEvent[] = [];
    const folder = mkdtempSync(join(tmpdir(), 'spares-'));
    const filter = join(folder, 'upper');
    writeFileSync(filter, '#!/bin/sh\nexec tr a-z A-Z\n', { mode: 0o755 });
    try {
      const pool = track(
        createTransformPool({
          protocol: 'body',
          command: [filter],
          processes: 2,
          onEvent: (event) => events.push(event),
        }),
      );
      expect(await run(pool, 'abc')).toBe('ABC');
      const spares = await waitForSpares(pool, 2);
      rmSync(filter);
      await expect(pool.transform(new Response('x'))).rejects.toMatchObject({
        code: 'ERR_TRANSFORM_SPAWN',
        message: `Body filter "${filter}" could not be started: spawn ${filter} ENOENT`,
      });
      expect(await waitFor(() => spares.filter(isRunning).length === 0)).toBe(true);
      expect(events.filter((event) => event.type === 'exit').map((event) => event.reason)).toEqual([
        'reload',
        'reload',
      ]);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('gives a spare the request method and URL of its response', async () => {
    const pool = track(
      createTransformPool({
        protocol: 'body',
        command: ['sh', '-c', 'cat; echo " $$ $TRANSFORM_REQUEST_METHOD $TRANSFORM_REQUEST_URL"'],
        processes: 2,
      }),
    );
    await run(pool, 'a');
    const spares = await waitForSpares(pool, 2);
    const post = new Request('http://example.test/p?q=1 2', { method: 'POST' });
    expect(await run(pool, 'line one\nline two\n', post)).toBe(
      `line one\nline two\n ${spares[0]} POST http://example.test/p?q=1%202\n`,
    );
    // No request: no variables, and the body still arrives whole.
    expect(await run(pool, '\n\nbody')).toBe(`\n\nbody ${spares[1]}  \n`);
  });

  it('runs the filter itself ahead when requestContext is false: no variables', async () => {
    const pool = track(
      createTransformPool({
        protocol: 'body',
        command: ['sh', '-c', 'cat; echo " $$ $(printenv TRANSFORM_REQUEST_METHOD || echo unset)"'],
        processes: 1,
        requestContext: false,
      }),
    );
    await run(pool);
    const [spare] = await waitForSpares(pool, 1);
    const request = new Request('http://example.test/', { method: 'PUT' });
    expect(await run(pool, 'x', request)).toBe(`x ${spare} unset\n`);
  });

  it('passes 10 MiB through a spare cat intact, and holds back the input while the output is unread', async () => {
    const pool = track(createTransformPool({ protocol: 'body', command: ['cat'], processes: 1 }));
    await run(pool);
    await waitForSpares(pool, 1);
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
    expect(pool.stats().idle).toBe(0);
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
