import { connect } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { serveFetch } from '../../src/cli/node-http.ts';
import { createTransformPool, type ProcessEvent, TransformError, withTransform } from '../../src/index.ts';
import { kill, startProxy } from '../_cli.ts';
import { fixture, startServer, track, waitFor } from '../_utils.ts';

const encoder = new TextEncoder();

/** A body whose chunks the test hands out one by one. */
function createHeldBody(): {
  body: ReadableStream<Uint8Array>;
  push: (text: string) => void;
  end: () => void;
} {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
    },
  });
  return { body, push: (text) => controller.enqueue(encoder.encode(text)), end: () => controller.close() };
}

async function getError(promise: Promise<unknown>): Promise<TransformError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(TransformError);
  return error as TransformError;
}

describe("protocol: 'body'", () => {
  it('with timeout 0 waits as long as the filter takes', async () => {
    const pool = track(
      createTransformPool({ protocol: 'body', command: ['sh', '-c', 'sleep 0.3; exec cat'], timeout: 0 }),
    );
    expect(await (await pool.transform(new Response('patient'))).text()).toBe('patient');
  });

  it('runs tr on the body, keeps the headers but framing, weakens the ETag and drops Last-Modified', async () => {
    const pool = track(
      createTransformPool({ command: ['tr', 'a-z', 'A-Z'], protocol: 'body', processes: 2 }),
    );
    const response = await pool.transform(
      new Response('hello body', {
        status: 201,
        headers: {
          'content-type': 'text/plain',
          'content-length': '10',
          etag: '"v1"',
          'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT',
          'x-custom': 'kept',
        },
      }),
    );
    expect(response.status).toBe(201);
    expect(await response.text()).toBe('HELLO BODY');
    expect(response.headers.get('x-custom')).toBe('kept');
    expect(response.headers.get('content-type')).toBe('text/plain');
    expect(response.headers.get('content-length')).toBeNull();
    expect(response.headers.get('etag')).toBe('W/"v1"');
    expect(response.headers.get('last-modified')).toBeNull();
  });

  it('keeps the validators with preserveValidators', async () => {
    const pool = track(
      createTransformPool({
        command: 'tr a-z A-Z',
        protocol: 'body',
        processes: 1,
        preserveValidators: true,
      }),
    );
    const response = await pool.transform(
      new Response('x', { headers: { etag: '"v1"', 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT' } }),
    );
    expect(await response.text()).toBe('X');
    expect(response.headers.get('etag')).toBe('"v1"');
    expect(response.headers.get('last-modified')).toBe('Wed, 21 Oct 2015 07:28:00 GMT');
  });

  it('gives sed the request method and URL in its environment', async () => {
    const pool = track(
      createTransformPool({
        command: ['sh', '-c', 'sed "s|METHOD|$TRANSFORM_REQUEST_METHOD|; s|URL|$TRANSFORM_REQUEST_URL|"'],
        protocol: 'body',
        processes: 1,
      }),
    );
    const request = new Request('http://example.test/page?q=1', { method: 'POST' });
    const response = await pool.transform(new Response('METHOD URL\n'), { request });
    expect(await response.text()).toBe('POST http://example.test/page?q=1\n');
  });

  it('runs jq and sets the output media type from outputType', async () => {
    const pool = track(
      createTransformPool({
        command: ['jq', '-c', '{count: (.items | length)}'],
        protocol: 'body',
        processes: 1,
        outputType: 'application/x-count+json',
      }),
    );
    const response = await pool.transform(
      Response.json({ items: [1, 2, 3] }, { headers: { 'content-type': 'application/json' } }),
    );
    expect(response.headers.get('content-type')).toBe('application/x-count+json');
    expect(await response.text()).toBe('{"count":3}\n');
  });

  it('fails with ERR_TRANSFORM_EXIT and the exit code when the filter exits non-zero', async () => {
    const pool = track(
      createTransformPool({ command: ['jq', '.'], protocol: 'body', processes: 1, stderr: 'ignore' }),
    );
    const error = await getError(pool.transform(new Response('not json {')));
    expect(error.code).toBe('ERR_TRANSFORM_EXIT');
    expect(error.status).toBe(502);
    expect(error.exitCode).not.toBe(0);
    expect(pool.stats().failed).toBe(1);
  });

  it('breaks the body of a filter that fails after its output went out, logs one line for it, and serves the next', async () => {
    const lines: string[] = [];
    const pool = track(
      createTransformPool({
        // The output leaves long before the exit (held at most a few ms), so the failure comes mid-answer.
        command: [
          'sh',
          '-c',
          'read -r line; echo "$line"; [ "$line" = fail ] && { sleep 0.3; exit 3; }; exit 0',
        ],
        protocol: 'body',
        processes: 1,
        stderr: (line) => lines.push(line),
      }),
    );
    const response = await pool.transform(new Response('fail\n'));
    const error = await getError(response.text());
    expect(error.code).toBe('ERR_TRANSFORM_EXIT');
    expect(await (await pool.transform(new Response('next\n'))).text()).toBe('next\n');
    expect(lines.filter((line) => line.includes('filter exit'))).toHaveLength(1);
    expect(lines.filter((line) => /^\s+at /.test(line))).toEqual([]);
  });

  it("passes a filter's stderr on in whole lines: it can neither forge an event nor swallow one", async () => {
    const lines: string[] = [];
    const events: ProcessEvent[] = [];
    const forged = '\\036subprocess-transform-filter {"type":"spawn","pid":4242}\\n';
    const pool = createTransformPool({
      // A forged report line, then a line left unfinished, which the real report of its exit comes right after.
      command: ['sh', '-c', `printf '${forged}' >&2; printf 'no line break' >&2; cat`],
      protocol: 'body',
      processes: 1,
      stderr: (line) => lines.push(line),
      onEvent: (event) => events.push(event),
    });
    expect(await (await pool.transform(new Response('body'))).text()).toBe('body');
    const [spawn] = events.filter((event) => event.type === 'spawn');
    expect(await waitFor(() => lines.includes('no line break'))).toBe(true);
    await pool.close();
    expect(lines).toEqual(['?subprocess-transform-filter {"type":"spawn","pid":4242}', 'no line break']);
    expect(events.filter((event) => event.type === 'spawn' && event.pid === 4242)).toEqual([]);
    // Its exit (0, its output read) was reported and heard: it is not taken for a filter its child left behind.
    expect(events.filter((event) => event.type === 'exit' && event.pid === spawn?.pid)).toEqual([]);
  });

  it('fails with ERR_TRANSFORM_TIMEOUT when stdout is silent for timeout, and names the timer', async () => {
    const events: ProcessEvent[] = [];
    const pool = track(
      createTransformPool({
        command: ['sleep', '60'],
        protocol: 'body',
        timeout: 200,
        onEvent: (event) => events.push(event),
      }),
    );
    const started = performance.now();
    const error = await getError(pool.transform(new Response('x')));
    expect(error.code).toBe('ERR_TRANSFORM_TIMEOUT');
    expect(await waitFor(() => events.some((event) => event.type === 'exit'))).toBe(true);
    expect(events.find((event) => event.type === 'exit')).toMatchObject({
      reason: 'timeout',
      timer: { option: 'timeout', ms: 200, silent: false },
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(pool.stats().timedOut).toBe(1);
  });

  it('fails with ERR_TRANSFORM_SPAWN when the program cannot be run, and reports each failure with its cause', async () => {
    const events: ProcessEvent[] = [];
    // Found and executable when the pool is made, but its exec fails: as a program deleted since.
    const filter = fixture('missing-interpreter.sh');
    const pool = track(
      createTransformPool({
        command: [filter],
        protocol: 'body',
        onEvent: (event) => events.push(event),
      }),
    );
    for (let i = 0; i < 2; i++) {
      const error = await getError(pool.transform(new Response('x')));
      expect(error.code).toBe('ERR_TRANSFORM_SPAWN');
      expect(error.message).toBe(`Body filter "${filter}" could not be started: spawn ${filter} ENOENT`);
    }
    const failure = {
      type: 'spawn-error',
      command: filter,
      reason: `spawn ${filter} ENOENT`,
    };
    expect(events).toEqual([failure, failure]);
  });

  it('logs one line per start failure on stderr by default, naming the cause and the cwd', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const pool = track(
        createTransformPool({ command: 'tr a-z A-Z', protocol: 'body', cwd: '/nonexistent' }),
      );
      expect((await getError(pool.transform(new Response('x')))).code).toBe('ERR_TRANSFORM_SPAWN');
      expect(logged.mock.calls).toEqual([
        [
          'subprocess-transform: transform "tr a-z A-Z" could not be started: spawn tr ENOENT (cwd "/nonexistent")',
        ],
      ]);
    } finally {
      logged.mockRestore();
    }
  });

  it('refuses, when the pool is made, a program it cannot find: one word with spaces is shown as words', () => {
    expect(() => createTransformPool({ command: ['tr a-z A-Z'], protocol: 'body' })).toThrow(
      new TransformError(
        'ERR_TRANSFORM_SPAWN',
        `Transform ""tr a-z A-Z"" cannot be started: no program "tr a-z A-Z" on PATH (searched ${process.env.PATH}); its program is one word with spaces: give the program and each argument as words of their own, as in ["tr","a-z","A-Z"]`,
        { command: '"tr a-z A-Z"' },
      ),
    );
  });

  it('streams both ways: output arrives before the input ends', async () => {
    const pool = track(createTransformPool({ command: ['cat'], protocol: 'body', processes: 1 }));
    const held = createHeldBody();
    held.push('first ');
    const response = await pool.transform(new Response(held.body));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('first ');
    held.push('second');
    held.end();
    let rest = '';
    for (let part = await reader.read(); !part.done; part = await reader.read()) {
      rest += new TextDecoder().decode(part.value);
    }
    expect(rest).toBe('second');
  });

  it('accepts a filter that stops reading early and exits 0', async () => {
    const pool = track(createTransformPool({ command: ['head', '-c', '3'], protocol: 'body', processes: 1 }));
    const response = await pool.transform(new Response('x'.repeat(1 << 20)));
    expect(await response.text()).toBe('xxx');
  });

  it('kills the filter when the client cancels the body', async () => {
    const events: ProcessEvent[] = [];
    const pool = track(
      createTransformPool({
        command: ['yes'],
        protocol: 'body',
        processes: 1,
        onEvent: (event) => events.push(event),
      }),
    );
    const response = await pool.transform(new Response('x'));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    expect(await waitForStats(() => pool.stats().busy === 0)).toBe(true);
    // The filter's end is heard from its child's end, which may come after the pool released the slot.
    expect(await waitForStats(() => events.some((event) => event.type === 'exit'))).toBe(true);
    // The filter's own events: a spare may start once it is gone.
    const pid = events[0]?.pid;
    const own = events.filter((event) => event.pid === pid);
    expect(own.map((event) => (event.type === 'exit' ? `exit ${event.reason}` : event.type))).toEqual([
      'spawn',
      'exit abort',
    ]);
  });

  it('a client that leaves mid-body is an abort, not an error: no line on the console, counted in aborted', async () => {
    const handler = track(
      withTransform(() => new Response('x'), { command: ['yes'], protocol: 'body', processes: 1 }),
    );
    const server = await serveFetch(handler, { port: 0, host: '127.0.0.1' });
    const errors = vi.spyOn(console, 'error');
    const infos = vi.spyOn(console, 'info');
    try {
      const { port } = new URL(server.url);
      // A raw client: read the start of the endless body, then hang up.
      await new Promise<void>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () =>
          socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
        );
        socket.once('data', () => {
          socket.destroy();
          resolve();
        });
        socket.once('error', reject);
      });
      expect(await waitForStats(() => handler.pool.stats().aborted === 1)).toBe(true);
      expect(await waitForStats(() => handler.pool.stats().busy === 0)).toBe(true);
      expect(handler.pool.stats()).toMatchObject({ failed: 0, aborted: 1 });
      expect([...errors.mock.calls, ...infos.mock.calls]).toEqual([]);
    } finally {
      errors.mockRestore();
      infos.mockRestore();
      await server.close();
    }
  });

  it('through the CLI, clients that leave mid-body leave no trace on stderr and are logged aborted', async () => {
    // 4 MiB of HTML: more than the sockets hold, so the body is still streaming when each client leaves.
    const page = `<p>${'x'.repeat(4 * 1024 * 1024)}</p>`;
    const upstream = await startServer(
      () => new Response(page, { headers: { 'content-type': 'text/html' } }),
    );
    let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
    try {
      proxy = await startProxy(['--upstream', upstream.url, '--log', '--body-filter', '--', 'cat']);
      const { port } = new URL(proxy.url);
      for (let client = 0; client < 5; client++) {
        await new Promise<void>((resolve, reject) => {
          const socket = connect(Number(port), '127.0.0.1', () =>
            socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
          );
          socket.once('data', () => {
            socket.destroy();
            resolve();
          });
          socket.once('error', reject);
        });
      }
      const running = proxy;
      const aborted = () =>
        running
          .stdout()
          .split('\n')
          .filter((line) => line.endsWith(' aborted')).length;
      expect(await waitFor(() => aborted() === 5, 20_000)).toBe(true);
      expect(proxy.stderr()).toBe('');
    } finally {
      await kill(proxy);
      await upstream.stop();
    }
  });

  it('once the head is out, only a cancelled body stops the filter, as in http mode: the signal no longer does', async () => {
    const pool = track(createTransformPool({ command: ['cat'], protocol: 'body', processes: 1 }));
    const held = createHeldBody();
    held.push('first ');
    const controller = new AbortController();
    const response = await pool.transform(new Response(held.body), { signal: controller.signal });
    // A server that is still writing the body would log a body errored under it as an error.
    controller.abort();
    held.push('second');
    held.end();
    expect(await response.text()).toBe('first second');
    expect(pool.stats()).toMatchObject({ ok: 1, failed: 0, aborted: 0 });
  });

  // 64 MiB through two pipes and a process: up to 11 s with both cores busy at other work, so vitest's 60 s
  // left too small a margin. Only a stall should fail it: ten times the slow case.
  it('passes 64 MiB through cat intact', async () => {
    const pool = track(createTransformPool({ command: ['cat'], protocol: 'body', processes: 1 }));
    const chunk = new Uint8Array(1 << 20).map((_, i) => i % 251);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 64) controller.close();
        else {
          sent++;
          controller.enqueue(chunk.slice());
        }
      },
    });
    const response = await pool.transform(new Response(body));
    let length = 0;
    let wrong = 0;
    for await (const part of response.body as unknown as AsyncIterable<Uint8Array>) {
      for (let i = 0; i < part.length; i += 4099) if (part[i] !== ((length + i) % (1 << 20)) % 251) wrong++;
      length += part.length;
    }
    expect(length).toBe(64 << 20);
    expect(wrong).toBe(0);
  }, 120_000);

  it('runs at most processes filters at once, queues maxQueue more and refuses the next', async () => {
    const pool = track(
      createTransformPool({ command: ['cat'], protocol: 'body', processes: 2, maxQueue: 1 }),
    );
    const held = [createHeldBody(), createHeldBody(), createHeldBody()];
    const results = held.map((body) => pool.transform(new Response(body.body)));
    expect(await waitForStats(() => pool.stats().busy === 2 && pool.stats().queued === 1)).toBe(true);
    expect(pool.stats().alive).toBe(2);
    const refused = await getError(pool.transform(new Response('x')));
    expect(refused.code).toBe('ERR_TRANSFORM_QUEUE_FULL');
    held.forEach((body, index) => {
      body.push(`body ${index}`);
      body.end();
    });
    const texts = await Promise.all(results.map(async (result) => (await result).text()));
    expect(texts).toEqual(['body 0', 'body 1', 'body 2']);
    expect(pool.stats().ok).toBe(3);
  });

  it('close() lets a running filter finish within its timeout, then kills it', async () => {
    const pool = createTransformPool({ command: ['sleep', '60'], protocol: 'body', processes: 1 });
    const result = getError(pool.transform(new Response('x')));
    expect(await waitForStats(() => pool.stats().busy === 1)).toBe(true);
    await pool.close({ timeout: 100 });
    expect((await result).code).toBe('ERR_TRANSFORM_CLOSED');
    expect(pool.stats().busy).toBe(0);
    expect((await getError(pool.transform(new Response('x')))).code).toBe('ERR_TRANSFORM_CLOSED');
  });

  it('is chosen by withTransform too', async () => {
    const handler = track(
      withTransform(() => new Response('abc', { headers: { 'content-type': 'text/plain' } }), {
        command: ['tr', 'a-c', 'x-z'],
        protocol: 'body',
        processes: 1,
      }),
    );
    expect(await (await handler(new Request('http://example.test/'))).text()).toBe('xyz');
  });

  it('refuses an unknown protocol, and outputType without the body protocol', () => {
    expect(() => createTransformPool({ command: 'cat', protocol: 'ftp' as 'http' })).toThrow(TypeError);
    expect(() => createTransformPool({ command: 'cat', outputType: 'text/html' })).toThrow(TypeError);
    expect(() => createTransformPool({ command: 'cat', protocol: 'body', outputType: 'html' })).toThrow(
      TypeError,
    );
  });
});

async function waitForStats(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}
