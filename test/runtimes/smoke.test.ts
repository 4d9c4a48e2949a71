// The pool with real processes, in whatever runtime runs vitest: `npm test` runs this file under Node, Bun and
// Deno, each with its transforms under that same runtime.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createTransformPool, type ProcessEvent, TransformError } from '../../src/index.ts';
import { fixture, hasEnded, isWatchdog, listChildren, track, transformChildren, waitFor } from '../_utils.ts';
import { pseudoRandomChunks, pseudoRandomStream } from './body.ts';

const deno = (globalThis as { Deno?: { version: { deno: string }; execPath(): string } }).Deno;
const runtime = deno !== undefined ? 'deno' : process.versions.bun !== undefined ? 'bun' : 'node';
const version = deno?.version.deno ?? process.versions.bun ?? process.versions.node;

/** The argv that runs a script under this runtime. */
function script(path: string): string[] {
  return deno !== undefined ? [deno.execPath(), 'run', '-A', path] : [process.execPath, path];
}

const child = script(new URL(`./child.${runtime === 'node' ? 'mjs' : 'ts'}`, import.meta.url).pathname);

const digest = (chunks: Iterable<Uint8Array>) => {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
};

async function digestOf(body: ReadableStream<Uint8Array> | null): Promise<{ bytes: number; digest: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of body ?? []) {
    bytes += chunk.length;
    hash.update(chunk);
  }
  return { bytes, digest: hash.digest('hex') };
}

const MIB = 1024 * 1024;

describe(`the pool under ${runtime}`, () => {
  it('runs under the runtime npm test asked for', () => {
    // Set by the script that runs this file under each runtime ('node', 'node@24'); unset when run by hand.
    const [expected, major] = process.env.SMOKE_RUNTIME?.split('@') ?? [];
    if (expected !== undefined) expect(runtime).toBe(expected);
    if (major !== undefined) expect(version.split('.')[0]).toBe(major);
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('streams 10 MiB through cat intact', async () => {
    const pool = track(createTransformPool({ command: 'cat', processes: 1 }));
    const response = await pool.transform(new Response(pseudoRandomStream(10 * MIB)));
    expect(await digestOf(response.body)).toEqual({
      bytes: 10 * MIB,
      digest: digest(pseudoRandomChunks(10 * MIB)),
    });
  });

  it(`runs a serveTransform child under ${runtime}`, async () => {
    const pool = track(createTransformPool({ command: child, processes: 2 }));
    const responses = await Promise.all(
      ['one', 'two', 'three'].map((text) =>
        pool.transform(new Response(text, { headers: { 'content-type': 'text/plain' } })),
      ),
    );
    expect(await Promise.all(responses.map((response) => response.text()))).toEqual(['ONE', 'TWO', 'THREE']);
    expect(responses[0]?.headers.get('x-transform')).toBe(`${runtime} ${version}`);
  });

  it('kills a process whose reader left mid-body, quietly, and goes on', async () => {
    const events: ProcessEvent[] = [];
    const pool = track(
      createTransformPool({ command: child, processes: 1, onEvent: (event) => events.push(event) }),
    );
    for (let round = 0; round < 3; round++) {
      const response = await pool.transform(
        new Response(pseudoRandomStream(64 * MIB), {
          headers: { 'content-type': 'application/octet-stream' },
        }),
      );
      const reader = response.body?.getReader() as ReadableStreamDefaultReader<Uint8Array>;
      for (let read = 0; read < MIB; ) read += (await reader.read()).value?.length ?? MIB;
      await reader.cancel();
      const next = await pool.transform(new Response('next', { headers: { 'content-type': 'text/plain' } }));
      expect(await next.text()).toBe('NEXT');
    }
    // Output still in the pipe from a killed process is not a protocol error.
    expect(events.filter((event) => event.type === 'protocol-error')).toEqual([]);
    expect(events.filter((event) => event.type === 'exit').map((event) => event.reason)).toEqual([
      'abort',
      'abort',
      'abort',
    ]);
  });

  it('times out a hanging transform and replaces the process', async () => {
    const pool = track(
      createTransformPool({ command: script(fixture('hang.mjs')), processes: 1, timeout: 1000 }),
    );
    // Warm: the first answer is timed by startTimeout, and a cold start must never be what times out.
    expect(await (await pool.transform(new Response('warm'))).text()).toBe('warm');
    const outcome = await pool.transform(new Response('hang')).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(TransformError);
    expect((outcome as TransformError).code).toBe('ERR_TRANSFORM_TIMEOUT');
    expect(await (await pool.transform(new Response('after'))).text()).toBe('after');
  });

  describe('a message to a process found dead while idle is retried, 200 KiB too', () => {
    const big = 'x'.repeat(200 * 1024);

    /** Wait without yielding to the event loop: the pool must find out when the message starts. */
    function spinUntil(check: () => boolean): void {
      const deadline = Date.now() + 10_000;
      while (!check()) if (Date.now() > deadline) throw new Error('spinUntil: still false after 10 s');
    }

    for (const [name, body] of [
      ['killed', big],
      ['killed (and a small message: Bun reports a small write to a closed pipe as done)', 'small'],
    ]) {
      it(name as string, async () => {
        const pool = track(createTransformPool({ command: script(fixture('hang.mjs')), processes: 1 }));
        expect(await (await pool.transform(new Response('warm'))).text()).toBe('warm');
        const pid = pool.stats().processes[0]?.pid as number;
        process.kill(pid, 'SIGKILL');
        spinUntil(() => hasEnded(pid));
        expect(await (await pool.transform(new Response(body))).text()).toBe(body);
        expect(pool.stats()).toMatchObject({ ok: 2, failed: 0 });
      });
    }

    it('with its stdin closed', async () => {
      // The transform runs under Node here (what is tested is the pool in this runtime): under Deno, on a busy
      // machine, the first write of the next message often went through after closeSync(0) (a read of fd 0
      // still pending in a thread holds the pipe open), so the process had read part of it and rightly failed
      // it at its exit: not the pipe nobody reads that this case is about.
      const pool = track(
        createTransformPool({
          command: ['node', fixture('closes-stdin-when-idle.mjs')],
          processes: 1,
          stderr: 'ignore',
        }),
      );
      expect(await (await pool.transform(new Response('close'))).text()).toBe('close');
      const pid = pool.stats().processes[0]?.pid as number;
      spinUntil(() => !existsSync(`/proc/${pid}/fd/0`));
      expect(await (await pool.transform(new Response(big))).text()).toBe(big);
      expect(pool.stats()).toMatchObject({ ok: 2, failed: 0 });
    });
  });

  it('refuses, when the pool is made, a command it cannot find, naming the command and the PATH searched', () => {
    const make = (command: string[], cwd?: string) => () =>
      track(createTransformPool({ command, cwd, processes: 1, onEvent: () => {} }));
    const path = process.env.PATH as string;
    expect(make(['nodee', 'render.js'])).toThrow(
      new TransformError(
        'ERR_TRANSFORM_SPAWN',
        `Transform "nodee render.js" cannot be started: no program "nodee" on PATH (searched ${path})`,
        { command: 'nodee render.js' },
      ),
    );
    expect(make(['./missing.js'])).toThrow('Transform "./missing.js" cannot be started: no such file');
    let refused: unknown;
    try {
      make(['/nonexistent/transform'])();
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(TransformError);
    expect(refused).toMatchObject({
      code: 'ERR_TRANSFORM_SPAWN',
      status: 502,
      command: '/nonexistent/transform',
    });
    // A path relative to `cwd` is found from there, as the spawn will find it.
    expect(make(['./upper.mjs'], fixture('.'))).toThrow(
      /upper\.mjs" cannot be started: it is not executable \(chmod/,
    );
    expect(make(['./shell-group.sh'], fixture('.'))).not.toThrow();
  });

  it('rejects with ERR_TRANSFORM_SPAWN, naming the cause, when the command cannot be started', async () => {
    // Found and executable when the pool is made, but its exec fails: as a program deleted since.
    const pool = track(
      createTransformPool({ command: [fixture('missing-interpreter.sh')], processes: 1, onEvent: () => {} }),
    );
    const error = await pool.transform(new Response('x')).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(TransformError);
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_SPAWN', status: 502 });
    expect((error as Error).message).toContain('ENOENT');
  });

  it('leaves no process behind on close, even one that ignores SIGTERM', async () => {
    const pool = createTransformPool({ command: script(fixture('ignores-sigterm.mjs')), processes: 2 });
    expect(await (await pool.transform(new Response('up'))).text()).toBe('up');
    expect(await waitFor(() => transformChildren().length === 2)).toBe(true);
    const pids = transformChildren().map((info) => info.pid);
    await pool.close({ timeout: 100 });
    const running = () => listChildren().filter((info) => info.state !== 'Z');
    // SIGKILL follows SIGTERM after a short grace; 10 s allowed.
    expect(await waitFor(() => running().length === 0, 10_000)).toBe(true);
    expect(listChildren().filter((info) => pids.includes(info.pid) || isWatchdog(info.pid))).toSatisfy(
      (left: { state: string }[]) => left.every((info) => info.state === 'Z'),
    );
  });
});
