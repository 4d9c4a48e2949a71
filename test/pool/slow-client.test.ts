// No client holds a process: an answer is buffered in the parent up to `clientBuffer`, so a process whose
// answer fits serves others while its client reads slowly; one whose client reads nothing past
// `clientTimeout` ends that response (aborted, never failed) and is drained or replaced.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HELP, parseCliArgs } from '../../src/cli/args.ts';
import {
  createTransformPool,
  type PoolOptions,
  type TransformError,
  withTransform,
} from '../../src/index.ts';
import { kill, startProxy, startPython } from '../_cli.ts';
import { fixture, nodeFixture, sleep, startServer, track, waitFor } from '../_utils.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The body large-answer.mjs writes for `size` bytes: 16 KiB chunks of 'a', 'b', ... */
function expectedLargeBody(size: number): Buffer {
  const body = Buffer.alloc(size);
  for (let at = 0, k = 0; at < size; at += 16 * KiB, k++)
    body.fill(97 + (k % 26), at, Math.min(size, at + 16 * KiB));
  return body;
}

/** A pool of large-answer.mjs processes, with the bytes each could write so far (`took`, by pid). */
function createLargeAnswerPool(options: Partial<PoolOptions>) {
  const took = new Map<number, number>();
  const pool = track(
    createTransformPool({
      command: nodeFixture('large-answer.mjs'),
      processes: 1,
      ...options,
      stderr: (line, { pid }) => {
        const match = /^took (\d+)$/.exec(line);
        if (match) took.set(pid, Number(match[1]));
      },
    }),
  );
  return { pool, took };
}

/** Resolves with `what` or with 'still waiting' after `ms`: a hang becomes a failure that says so. */
function within<T>(what: Promise<T>, ms: number): Promise<T | 'still waiting'> {
  return Promise.race([what, sleep(ms).then(() => 'still waiting' as const)]);
}

/** How a body the test never reads ends: its error, or 'still waiting' if it has not ended in 20 s. */
function endOf(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<unknown> {
  return within(
    reader.closed.then(
      () => 'closed',
      (reason: unknown) => reason,
    ),
    20_000,
  );
}

const pidOf = (response: Response): number => Number(response.headers.get('x-pid'));

describe('a client that reads slowly or not at all', () => {
  it('holds no process once its whole answer fits in clientBuffer (1 MiB by default)', async () => {
    const { pool } = createLargeAnswerPool({ clientTimeout: 0 });
    const unread = await pool.transform(new Response(String(512 * KiB)));
    // The one process serves the next transform while nobody reads the first answer.
    const next = await within(pool.transform(new Response('next')), 20_000);
    expect(next).toBeInstanceOf(Response);
    const served = next as Response;
    expect(await served.text()).toBe('next');
    expect(pidOf(served)).toBe(pidOf(unread));
    expect(Buffer.from(await unread.arrayBuffer()).equals(expectedLargeBody(512 * KiB))).toBe(true);
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 0, aborted: 0, started: 1 });
  });

  it('buffers at most clientBuffer of an answer, then ends it past clientTimeout as aborted, and replaces the process', async () => {
    const clientBuffer = 256 * KiB;
    const { pool, took } = createLargeAnswerPool({ clientBuffer, clientTimeout: 300 });
    const response = await pool.transform(new Response(String(8 * MiB)));
    const pid = pidOf(response);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const error = (await endOf(reader)) as TransformError;
    // The output was paused when the bound fired: what the process could write is the buffer, plus what
    // the pipe and the parent's read of it hold (64 KiB each), never the 8 MiB answer.
    const written = took.get(pid) ?? 0;
    expect(written).toBeLessThan(clientBuffer + 512 * KiB);
    expect(error.code).toBe('ERR_TRANSFORM_ABORTED');
    expect(error.message).toContain('read nothing for 300 ms (clientTimeout)');
    // The rest of the answer is past the drain bound (1 MiB): the process is replaced, never handed on.
    const next = await pool.transform(new Response('next'));
    expect(await next.text()).toBe('next');
    expect(pidOf(next)).not.toBe(pid);
    expect(pool.stats()).toMatchObject({ ok: 1, failed: 0, aborted: 1, started: 2 });
  });

  it('drains and keeps the process when the rest of an abandoned answer is within the drain bound', async () => {
    const { pool } = createLargeAnswerPool({ clientBuffer: 64 * KiB, clientTimeout: 300 });
    const response = await pool.transform(new Response(String(384 * KiB)));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const error = (await endOf(reader)) as TransformError;
    expect(error.code).toBe('ERR_TRANSFORM_ABORTED');
    const next = await pool.transform(new Response('next'));
    expect(await next.text()).toBe('next');
    expect(pidOf(next)).toBe(pidOf(response));
    expect(pool.stats()).toMatchObject({ ok: 1, failed: 0, aborted: 1, started: 1 });
  });

  it('gives a slow but steady reader every byte, however long the whole read takes', async () => {
    const clientTimeout = 400;
    const { pool } = createLargeAnswerPool({ clientBuffer: 64 * KiB, clientTimeout });
    const size = 2 * MiB;
    const response = await pool.transform(new Response(String(size)));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [];
    // A read every 40 ms, a tenth of the bound: the reader always makes progress within it.
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      await sleep(clientTimeout / 10);
    }
    expect(Buffer.concat(chunks).equals(expectedLargeBody(size))).toBe(true);
    // Far more reads than fit in one bound: the whole read outlasted clientTimeout many times over.
    expect(chunks.length * (clientTimeout / 10)).toBeGreaterThan(3 * clientTimeout);
    expect(pool.stats()).toMatchObject({ ok: 1, failed: 0, aborted: 0 });
  });
});

/**
 * A raw HTTP/1.1 client that sends a GET and reads nothing until `readRest()` (its socket is paused before a
 * byte arrives); `readRest` then reads what is left and resolves with the bytes received in all.
 */
function requestWithoutReading(url: string, path: string): { readRest: () => Promise<number> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.pause();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.byteLength;
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(received)));
  return {
    readRest: () => {
      socket.resume();
      return closed;
    },
  };
}

/** A raw HTTP/1.1 GET read to its end (`Connection: close`): the exact bytes of the response. */
function requestWhole(url: string, path: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
  });
}

describe("with protocol: 'body'", () => {
  /** One filter slot; the filter reads its input, then writes `bytes` zero bytes. */
  const createFilterPool = (bytes: number, options: Partial<PoolOptions>) =>
    track(
      createTransformPool({
        command: ['sh', '-c', `cat >/dev/null; head -c ${bytes} /dev/zero`],
        protocol: 'body',
        processes: 1,
        stderr: 'ignore',
        ...options,
      }),
    );

  it('frees the filter slot once its whole output fits in clientBuffer, while its client reads nothing', async () => {
    const pool = createFilterPool(512 * KiB, { clientBuffer: MiB, clientTimeout: 0 });
    const unread = await pool.transform(new Response('x'));
    const next = await within(pool.transform(new Response('x')), 20_000);
    expect(next).toBeInstanceOf(Response);
    expect((await (next as Response).arrayBuffer()).byteLength).toBe(512 * KiB);
    expect(Buffer.from(await unread.arrayBuffer()).equals(Buffer.alloc(512 * KiB))).toBe(true);
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 0, aborted: 0 });
  });

  it('ends an output its client does not read past clientTimeout, as aborted, and frees the slot', async () => {
    const pool = createFilterPool(32 * MiB, { clientBuffer: 64 * KiB, clientTimeout: 300 });
    const response = await pool.transform(new Response('x'));
    const error = (await endOf((response.body as ReadableStream<Uint8Array>).getReader())) as TransformError;
    expect(error.code).toBe('ERR_TRANSFORM_ABORTED');
    expect(error.message).toContain('read nothing for 300 ms (clientTimeout)');
    // The one slot serves the next response.
    const next = await within(pool.transform(new Response('x')), 20_000);
    expect(next).toBeInstanceOf(Response);
    expect(pool.stats()).toMatchObject({ failed: 0, aborted: 1 });
    await (next as Response).body?.cancel();
  });
});

describe("with protocol: 'body', output its client never reads", () => {
  it('frees the filter slot whatever its size: fitting, left in the pipe by a filter that exited, or blocked', async () => {
    // From 96 KiB to 320 KiB in 16 KiB steps: past the 16 KiB buffer, some sizes still fit in what the stream
    // and the paused read hold (the filter ends, ok), some leave the rest in the pipe of a filter that exited
    // (ended past clientTimeout: the rest is read and dropped), the others keep it blocked (killed).
    for (let kib = 96; kib <= 320; kib += 16) {
      const pool = track(
        createTransformPool({
          command: ['sh', '-c', `cat >/dev/null; head -c ${kib * KiB} /dev/zero`],
          protocol: 'body',
          processes: 1,
          clientBuffer: 16 * KiB,
          clientTimeout: 300,
          stderr: 'ignore',
        }),
      );
      await pool.transform(new Response('x'));
      // The one slot serves the next response while nobody reads the first.
      const next = await within(pool.transform(new Response('x')), 20_000);
      expect(next, `${kib} KiB`).toBeInstanceOf(Response);
      await (next as Response).body?.cancel();
      const { ok, aborted, failed } = pool.stats();
      expect({ kib, failed, ended: ok + aborted >= 1 }).toEqual({ kib, failed: 0, ended: true });
    }
  });
  it('frees the filter slot when its client cancels the body, whatever the size left in the pipe', async () => {
    for (let kib = 48; kib <= 320; kib += 16) {
      const pool = track(
        createTransformPool({
          command: ['sh', '-c', `cat >/dev/null; head -c ${kib * KiB} /dev/zero`],
          protocol: 'body',
          processes: 1,
          clientBuffer: 16 * KiB,
          clientTimeout: 0,
          stderr: 'ignore',
        }),
      );
      const response = await pool.transform(new Response('x'));
      // Time for the filter to write what fits and, for some sizes, exit (a slow machine only shifts sizes).
      await sleep(200);
      await response.body?.cancel();
      const next = await within(pool.transform(new Response('x')), 20_000);
      expect(next, `${kib} KiB`).toBeInstanceOf(Response);
      await (next as Response).body?.cancel();
    }
  });
});

describe('clients that never read, over HTTP', () => {
  it('two never-reading clients of large answers, with processes: 2, delay a third by at most the bound', async () => {
    const clientTimeout = 500;
    const handler = withTransform(
      (request: Request) =>
        new Response(new URL(request.url).pathname === '/large' ? String(32 * MiB) : 'small'),
      {
        command: nodeFixture('large-answer.mjs'),
        processes: 2,
        clientBuffer: 64 * KiB,
        clientTimeout,
        stderr: 'ignore',
      },
    );
    const { pool } = track(handler);
    const server = await startServer(handler);
    try {
      const stuck = [
        requestWithoutReading(server.url, '/large'),
        requestWithoutReading(server.url, '/large'),
      ];
      // Both processes hold an answer far larger than every buffer on the way (32 MiB).
      expect(await waitFor(() => pool.stats().busy === 2, 20_000)).toBe(true);
      const started = performance.now();
      const answer = await within(requestWhole(server.url, '/small'), 20 * clientTimeout);
      const waited = performance.now() - started;
      expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nsmall$/);
      // At most the bound, with a 10x margin for a loaded machine (without the bound: no answer at all).
      expect(waited).toBeLessThan(10 * clientTimeout);
      // Each never-reading client's response is ended, counted as aborted, never as failed: its connection
      // closes before the 32 MiB body is complete.
      expect(await waitFor(() => pool.stats().aborted === 2, 20_000)).toBe(true);
      const received = await within(Promise.all(stuck.map(({ readRest }) => readRest())), 20_000);
      expect(received).not.toBe('still waiting');
      for (const bytes of received as number[]) expect(bytes).toBeLessThan(32 * MiB);
      expect(pool.stats()).toMatchObject({ ok: 1, failed: 0, aborted: 2 });
    } finally {
      await server.stop();
    }
  });
});

describe('the slow-client bound options', () => {
  const make = (options: Record<string, unknown>) => () =>
    track(createTransformPool({ command: 'cat', processes: 1, ...options } as PoolOptions));

  it.each([
    [{ clientBuffer: '1mb' }, TypeError, 'Expected `clientBuffer` to be a number of bytes, got "1mb"'],
    [{ clientBuffer: Number.NaN }, TypeError, 'Expected `clientBuffer` to be a number of bytes, got NaN'],
    [
      { clientBuffer: -1 },
      RangeError,
      'Expected `clientBuffer` to be a non-negative integer or Infinity, got -1',
    ],
    [
      { clientBuffer: 1.5 },
      RangeError,
      'Expected `clientBuffer` to be a non-negative integer or Infinity, got 1.5',
    ],
    [{ clientTimeout: '5s' }, TypeError, 'Expected `clientTimeout` to be a number, got "5s"'],
    [{ clientTimeout: -5 }, RangeError, 'Expected `clientTimeout` to be a non-negative integer, got -5'],
    [{ clientTimeOut: 5 }, TypeError, 'Unknown option "clientTimeOut": did you mean "clientTimeout"?'],
    [{ clientbuffer: 5 }, TypeError, 'Unknown option "clientbuffer": did you mean "clientBuffer"?'],
  ])('refuses %o', (options, type, message) => {
    expect(make(options)).toThrow(type);
    expect(make(options)).toThrow(message);
  });

  it.each([
    [{ clientBuffer: 0, clientTimeout: 0 }],
    [{ clientBuffer: Number.POSITIVE_INFINITY }],
    [{}],
  ])('accepts %o', (options) => {
    expect(make(options)).not.toThrow();
  });
});

describe('the CLI flags', () => {
  const proxy = (...flags: string[]) =>
    parseCliArgs(['proxy', '--upstream', 'http://127.0.0.1:1', ...flags, '--', 'cat']);

  it('passes --client-buffer and --client-timeout on, and leaves the defaults to the library', () => {
    expect(proxy('--client-buffer', '65536', '--client-timeout=250')).toMatchObject({
      clientBuffer: 65_536,
      clientTimeout: 250,
    });
    expect(proxy()).toMatchObject({ clientBuffer: undefined, clientTimeout: undefined });
    expect(HELP).toContain('--client-buffer BYTES');
    expect(HELP).toContain('--client-timeout MS');
  });

  it.each([
    [['--client-buffer', '1mb'], 'Expected --client-buffer to be an integer of at least 0, got "1mb"'],
    [['--client-timeout', '-1'], 'Expected --client-timeout to be an integer from 0 to 2147483647, got "-1"'],
  ])('refuses %o', (flags, message) => {
    expect(() => proxy(...flags)).toThrow(message);
  });
});

describe('the CLI', () => {
  it('ends a response its client does not read past --client-timeout, and its access line says aborted', async () => {
    const python = await startPython();
    const proxy = await startProxy([
      '--upstream',
      python.url,
      '--log',
      '--processes',
      '1',
      '--client-buffer',
      '65536',
      '--client-timeout',
      '300',
      '--',
      process.execPath,
      fixture('large-answer.mjs'),
      String(32 * MiB),
    ]);
    try {
      const stuck = requestWithoutReading(proxy.url, '/json');
      const line = /^GET \/json 200 (\d+) \d+ms (\w+)$/m;
      expect(await waitFor(() => line.test(proxy.stdout()), 20_000)).toBe(true);
      const [, bytes, outcome] = line.exec(proxy.stdout()) as RegExpExecArray;
      expect(outcome).toBe('aborted');
      expect(Number(bytes)).toBeLessThan(32 * MiB);
      expect(await within(stuck.readRest(), 20_000)).toBeLessThan(32 * MiB);
    } finally {
      await kill(proxy);
      await kill(python);
    }
  });
});
