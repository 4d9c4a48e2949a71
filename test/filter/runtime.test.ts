// The filter mode under whichever runtime runs this file: `npm test` runs it under both Nodes, Bun and Deno.
// Each pool process is the filter child, run on that same runtime; the filters are plain Unix programs.
import { describe, expect, it } from 'vitest';
import { createTransformPool, type ProcessEvent, TransformError } from '../../src/index.ts';
import { fixture, isRunning, track, waitFor } from '../_utils.ts';

const runtime = typeof Deno !== 'undefined' ? 'deno' : process.versions.bun !== undefined ? 'bun' : 'node';

describe(`protocol: 'body' under ${runtime}`, () => {
  it('runs its filter children on this runtime', async () => {
    const pool = track(createTransformPool({ command: ['cat'], protocol: 'body', processes: 1 }));
    expect(await (await pool.transform(new Response('x'))).text()).toBe('x');
    const [child] = pool.stats().processes;
    const { readFileSync } = await import('node:fs');
    const argv = readFileSync(`/proc/${child?.pid}/cmdline`, 'utf8').split('\0');
    expect(argv[0]).toBe(process.execPath);
    expect(argv.some((word) => /[/\\]filter[/\\]child\.[jt]s$/.test(word))).toBe(true);
  });

  it('runs tr with the request method and URL in its environment, a fresh filter per response', async () => {
    const events: ProcessEvent[] = [];
    const pool = track(
      createTransformPool({
        command: ['sh', '-c', 'tr a-z A-Z; echo " $$ $TRANSFORM_REQUEST_METHOD $TRANSFORM_REQUEST_URL"'],
        protocol: 'body',
        processes: 1,
        onEvent: (event) => events.push(event),
      }),
    );
    const request = new Request('http://example.test/p?q=1', { method: 'POST' });
    const pids = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const text = await (await pool.transform(new Response('hello'), { request })).text();
      const [body, pid, method, url] = text.trim().split(' ');
      expect([body, method, url]).toEqual(['HELLO', 'POST', 'http://example.test/p?q=1']);
      pids.add(pid as string);
    }
    expect(pids.size).toBe(4);
    const spawned = events.filter((event) => event.type === 'spawn').map((event) => String(event.pid));
    expect([...pids].filter((pid) => !spawned.includes(pid))).toEqual([]);
    expect(pool.stats()).toMatchObject({ ok: 4, failed: 0 });
  });

  it("gives the filter the server's environment and env, without the child's own variables", async () => {
    const pool = track(
      createTransformPool({
        command: ['sh', '-c', 'cat >/dev/null; echo "$EXTRA $(env | grep -c ^SUBPROCESS_TRANSFORM_)"'],
        protocol: 'body',
        processes: 1,
        env: { EXTRA: 'given' },
      }),
    );
    for (let i = 0; i < 2; i++) {
      expect(await (await pool.transform(new Response('x'))).text()).toBe('given 0\n');
    }
  });

  it("drains the filter's stderr to the stderr option, line by line, and nothing else", async () => {
    const lines: string[] = [];
    const pool = track(
      createTransformPool({
        command: ['sh', '-c', 'echo "oops $$" >&2; cat'],
        protocol: 'body',
        processes: 1,
        stderr: (line) => lines.push(line),
        onEvent: () => {},
      }),
    );
    for (let i = 0; i < 3; i++) expect(await (await pool.transform(new Response('x'))).text()).toBe('x');
    expect(await waitFor(() => lines.length === 3, 10_000)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(lines.map((line) => line.replace(/\d+$/, 'N'))).toEqual(['oops N', 'oops N', 'oops N']);
  });

  it('fails exactly the response whose filter exits non-zero, with its exit code, and serves the next', async () => {
    const pool = track(
      createTransformPool({
        command: ['sh', '-c', 'read -r line; [ "$line" = fail ] && exit 3; echo "ok $line"'],
        protocol: 'body',
        processes: 1,
        onEvent: () => {},
      }),
    );
    const outcomes = await Promise.all(
      ['a', 'fail', 'b'].map((body) =>
        pool.transform(new Response(`${body}\n`)).then(
          async (response) => (await response.text()).trim(),
          (error: TransformError) => `${error.code} ${error.exitCode}`,
        ),
      ),
    );
    expect(outcomes).toEqual(['ok a', 'ERR_TRANSFORM_EXIT 3', 'ok b']);
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 1 });
    // Counted by its own code only: no ERR_TRANSFORM_FAILED left at 0 beside it.
    expect(pool.stats().failedByCode).toEqual({ ERR_TRANSFORM_EXIT: 1 });
  });

  it('keeps a response waiting in the pool while every filter child is busy, even children that answered before', async () => {
    const pool = track(createTransformPool({ command: ['cat'], protocol: 'body', processes: 2 }));
    await Promise.all([0, 1].map(async () => (await pool.transform(new Response('warm'))).text()));
    const held = [0, 1, 2].map(() => {
      let close!: () => void;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('held'));
          close = () => controller.close();
        },
      });
      return { body, close };
    });
    const results = held.map(({ body }) => pool.transform(new Response(body)));
    // One filter per child at a time: the third waits in the pool's queue, not behind a filter in a child.
    expect(await waitFor(() => pool.stats().busy === 2 && pool.stats().queued === 1, 10_000)).toBe(true);
    for (const { close } of held) close();
    expect(await Promise.all(results.map(async (result) => (await result).text()))).toEqual([
      'held',
      'held',
      'held',
    ]);
  });

  it('refuses a filter that is not there when the pool is made', () => {
    expect(() => createTransformPool({ command: ['/nonexistent/filter'], protocol: 'body' })).toThrow(
      expect.objectContaining({
        code: 'ERR_TRANSFORM_SPAWN',
        message: expect.stringContaining('no such file'),
      }),
    );
  });

  it('fails with ERR_TRANSFORM_SPAWN and the cause when the filter cannot start', async () => {
    // Found and executable, but its interpreter is missing: the exec itself fails, past the check at creation.
    const command = [fixture('missing-interpreter.sh')];
    const pool = track(createTransformPool({ command, protocol: 'body', onEvent: () => {} }));
    const error = await pool.transform(new Response('x')).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(TransformError);
    // The cause in the runtime's words (Bun names posix_spawn): the command and ENOENT in any case.
    expect(error).toMatchObject({
      code: 'ERR_TRANSFORM_SPAWN',
      message: expect.stringMatching(
        /^Body filter ".*missing-interpreter\.sh" could not be started: .*ENOENT/,
      ),
    });
  });

  it('streams the output before the input ends', async () => {
    const pool = track(createTransformPool({ command: ['cat'], protocol: 'body', processes: 1 }));
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const input = new ReadableStream<Uint8Array>({
      start(streamController) {
        controller = streamController;
      },
    });
    controller.enqueue(new TextEncoder().encode('first '));
    const reader = (await pool.transform(new Response(input))).body?.getReader();
    expect(new TextDecoder().decode((await reader?.read())?.value)).toBe('first ');
    controller.enqueue(new TextEncoder().encode('second'));
    controller.close();
    let rest = '';
    for (let part = await reader?.read(); part && !part.done; part = await reader?.read()) {
      rest += new TextDecoder().decode(part.value);
    }
    expect(rest).toBe('second');
  });

  it('close() ends the filters waiting ready', async () => {
    const events: ProcessEvent[] = [];
    const pool = createTransformPool({
      command: ['cat'],
      protocol: 'body',
      processes: 1,
      onEvent: (event) => events.push(event),
    });
    await (await pool.transform(new Response('x'))).text();
    const spawned = () => events.filter((event) => event.type === 'spawn').map((event) => event.pid);
    expect(await waitFor(() => spawned().length === 3, 10_000)).toBe(true);
    const spares = spawned().slice(1);
    expect(spares.filter(isRunning)).toEqual(spares);
    await pool.close();
    expect(await waitFor(() => spares.filter(isRunning).length === 0, 10_000)).toBe(true);
  });
});
