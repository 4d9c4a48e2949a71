// serve_transform, the Python helper shipped in python/, under the system python3: through the pool for what a
// user sees, and on a bare process for the exact bytes it writes and how it ends.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setImmediate as nextTask } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createTransformPool, type PoolOptions, type TransformPool } from '../../src/index.ts';
import { fixture, track } from '../_utils.ts';
import { createRandom } from '../wire/cases.ts';

const PYTHON_DIR = fileURLToPath(new URL('../../python', import.meta.url));
/** As a user runs it: the module found on PYTHONPATH; no bytecode written into the package. */
const PYTHON_ENV = { PYTHONPATH: PYTHON_DIR, PYTHONDONTWRITEBYTECODE: '1' };
const MIXED_SIZES = [10, 100_000, 200_000, 1024 * 1024];

function startPool(name: string, options: Partial<PoolOptions> = {}): TransformPool {
  // Generous: a stalled input would still fail, by a timeout error, and a slow machine never does.
  return track(
    createTransformPool({
      command: ['python3', fixture(name)],
      env: PYTHON_ENV,
      processes: 1,
      timeout: 30_000,
      ...options,
    }),
  );
}

/** Size and digest, so a mismatch prints two short lines instead of a megabyte. */
function describeBytes(bytes: Uint8Array): { size: number; sha256: string } {
  return { size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** A body that arrives in `pieces` reads, each a task later: still arriving, so the pool sends it chunked. */
function streamOf(body: Uint8Array, pieces: number): ReadableStream<Uint8Array> {
  const size = Math.ceil(body.byteLength / pieces);
  let offset = 0;
  return new ReadableStream({
    async pull(controller) {
      await nextTask();
      if (offset >= body.byteLength) return controller.close();
      controller.enqueue(body.slice(offset, offset + size));
      offset += size;
    },
  });
}

async function failureOf(promise: Promise<Response>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** Run a fixture as a bare process; what it wrote to stdout, stderr, and how it ended. */
async function runBare(
  name: string,
  input: string,
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const child = spawn('python3', [fixture(name)], {
    env: { ...process.env, ...PYTHON_ENV, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('latin1');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(Buffer.from(input, 'latin1'));
  const [code] = await exited;
  return { stdout, stderr, code };
}

describe('serve_transform through the pool', () => {
  it('echoes 10 B, 100 KB, 200 KB and 1 MiB bodies, whole or chunked, in random order byte-exact on one process', async () => {
    const pool = startPool('serve-echo.py');
    const random = createRandom(7);
    const pids = new Set<string | null>();
    for (let round = 0; round < 24; round++) {
      const body = new Uint8Array(randomBytes(MIXED_SIZES[random(MIXED_SIZES.length)] as number));
      // Whole: Content-Length; in 1 to 4 reads still arriving: chunked.
      const pieces = random(4);
      const response = await pool.transform(
        new Response(pieces === 0 ? body : streamOf(body, pieces), { headers: { 'x-round': String(round) } }),
      );
      pids.add(response.headers.get('x-pid'));
      expect(response.headers.get('x-round')).toBe(String(round));
      expect(describeBytes(new Uint8Array(await response.arrayBuffer()))).toEqual(describeBytes(body));
    }
    expect(pids.size).toBe(1);
    expect(pool.stats()).toMatchObject({ started: 1, exited: 0, failed: 0, ok: 24 });
  });

  it('keeps serving on the same process after clients leave mid-body many times', async () => {
    const pool = startPool('serve-echo.py');
    const random = createRandom(8);
    // As the JS helper's test: bodies the pool drains well within its bound when a client leaves.
    const body = new Uint8Array(randomBytes(200_000));
    for (let round = 0; round < 20; round++) {
      const response = await pool.transform(new Response(body));
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      // Leave before the first byte, after one chunk, or after two.
      for (let reads = random(3); reads > 0; reads--) await reader.read();
      await reader.cancel();
    }
    const last = await pool.transform(new Response(body));
    expect(describeBytes(new Uint8Array(await last.arrayBuffer()))).toEqual(describeBytes(body));
    expect(pool.stats()).toMatchObject({ started: 1, exited: 0, ok: 1, aborted: 20 });
  });

  it('echoes a 20 MiB body, whole and chunked', async () => {
    const pool = startPool('serve-echo.py');
    const body = new Uint8Array(randomBytes(20 * 1024 * 1024));
    for (const input of [body, streamOf(body, 40)]) {
      const response = await pool.transform(new Response(input));
      expect(describeBytes(new Uint8Array(await response.arrayBuffer()))).toEqual(describeBytes(body));
    }
    expect(pool.stats()).toMatchObject({ started: 1, exited: 0, ok: 2 });
  });

  it('gives fn the request context and the response without the Transform-* fields', async () => {
    const pool = startPool('serve-context.py', { requestContext: ['accept-language', 'x-trace'] });
    const request = new Request('http://example.test/caf%C3%A9?q=1', {
      method: 'POST',
      headers: { 'accept-language': 'de', 'x-trace': 't1', cookie: 'never sent' },
    });
    const response = await pool.transform(
      new Response('12345', {
        status: 404,
        headers: { 'content-type': 'text/plain', 'x-one': 'a', 'transform-request-method': 'SPOOF' },
      }),
      { request },
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      method: 'POST',
      url: 'http://example.test/caf%C3%A9?q=1',
      requestHeaders: [
        ['Accept-Language', 'de'],
        ['X-Trace', 't1'],
      ],
      status: 404,
      headers: [
        ['Content-Type', 'text/plain'],
        ['X-One', 'a'],
      ],
      bodyBytes: 5,
    });
  });

  it('answers Transform-Error when fn raises, with the traceback on stderr, and the same process goes on', async () => {
    const reasons: string[] = [];
    const lines: string[] = [];
    const pool = startPool('serve-faults.py', {
      stderr: (line) => lines.push(line),
      onEvent: (event) => {
        if (event.type === 'transform-error') reasons.push(event.reason);
      },
    });
    const error = await failureOf(pool.transform(new Response('x', { headers: { 'x-fault': 'raise' } })));
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_FAILED', status: 502 });
    expect(reasons).toEqual(['cannot do this one']);
    const after = await pool.transform(new Response('after'));
    expect(await after.text()).toBe('AFTER');
    expect(lines).toContain('Traceback (most recent call last):');
    expect(lines).toContain('ValueError: cannot do this one');
    expect(pool.stats()).toMatchObject({ started: 1, exited: 0, ok: 1, failed: 1 });
  });

  it('keeps print(), sys.stdout and fd 1 off the protocol, while loading and in fn, and input() off stdin', async () => {
    const lines: string[] = [];
    const pool = startPool('serve-faults.py', { stderr: (line) => lines.push(line) });
    const printed = await pool.transform(new Response('hello', { headers: { 'x-fault': 'print' } }));
    expect(await printed.text()).toBe('HELLO');
    // input() finds no input: that message fails, and the next message was not eaten by it.
    const read = await failureOf(pool.transform(new Response('x', { headers: { 'x-fault': 'input' } })));
    expect(read).toMatchObject({ code: 'ERR_TRANSFORM_FAILED' });
    expect(await (await pool.transform(new Response('next'))).text()).toBe('NEXT');
    expect(lines).toEqual(
      expect.arrayContaining([
        'printed while loading, after the import',
        'debug: here',
        'written to sys.stdout',
        'written to fd 1',
      ]),
    );
    expect(pool.stats()).toMatchObject({ started: 1, exited: 0, ok: 2, failed: 1 });
  });

  it('sends what was printed before the import, still buffered, to stderr in a process a pool started', async () => {
    const lines: string[] = [];
    // Buffered, as Python's stdout to a pipe is by default (this machine's environment may say otherwise).
    const pool = startPool('serve-print-first.py', {
      stderr: (line) => lines.push(line),
      env: { ...PYTHON_ENV, PYTHONUNBUFFERED: '' },
    });
    expect(await (await pool.transform(new Response('first'))).text()).toBe('FIRST');
    expect(lines).toContain('printed before the import');
    expect(pool.stats()).toMatchObject({ started: 1, exited: 0, ok: 1 });
  });

  it('answers the shapes fn may return, and Transform-Error for one it cannot send, on one process', async () => {
    const reasons: string[] = [];
    const pool = startPool('serve-faults.py', {
      stderr: 'ignore',
      onEvent: (event) => {
        if (event.type === 'transform-error') reasons.push(event.reason);
      },
    });
    const send = (fault: string): Promise<Response> =>
      pool.transform(new Response('body', { headers: { 'x-fault': fault } }));

    const text = await send('text');
    expect(text.status).toBe(201);
    expect(text.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await text.text()).toBe('zürich €');
    const cookies = await send('cookies');
    expect(cookies.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2, c']);
    const empty = await send('no-content');
    expect([empty.status, empty.headers.get('x-empty'), await empty.text()]).toEqual([204, 'yes', '']);
    // Its own framing fields are dropped: the helper frames, and the process is kept.
    const framed = await send('framing');
    expect(await framed.text()).toBe('ok');

    for (const fault of [
      'not-an-answer',
      'bad-status',
      'bad-field',
      'wide-field',
      'bad-body',
      'body-on-204',
    ]) {
      expect(await failureOf(send(fault)), fault).toMatchObject({ code: 'ERR_TRANSFORM_FAILED' });
    }
    expect(reasons).toEqual([
      expect.stringMatching(
        /^Expected the transform to return a Response or \(status, headers, body\), got 42$/,
      ),
      'Expected a status from 200 to 599, got 99',
      expect.stringMatching(/^Invalid value of header X-Split: /),
      expect.stringMatching(/^'latin-1' codec can't encode character/),
      'Expected the body as bytes or str, got float',
      'A 204 answer cannot have a body',
    ]);
    expect(await (await send('none')).text()).toBe('BODY');
    expect(pool.stats()).toMatchObject({ started: 1, exited: 0, ok: 5, failed: 6 });
  });
});

describe('serve_transform on a bare process', () => {
  const input =
    'HTTP/1.1 200 OK\r\nTransform-Request-Id: a1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello' +
    'HTTP/1.1 404 Not Found\r\nTransform-Request-Id: b2\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer-Field: x\r\n\r\n';

  it('writes exactly one Content-Length answer per message, id echoed, no other field, and exits 0 when stdin ends', async () => {
    const { stdout, code } = await runBare('serve-faults.py', input, { SUBPROCESS_TRANSFORM_CHILD: '1' });
    expect(stdout).toBe(
      'HTTP/1.1 200 OK\r\nTransform-Request-Id: a1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nHELLO' +
        'HTTP/1.1 404 Not Found\r\nTransform-Request-Id: b2\r\nContent-Length: 5\r\n\r\nABCDE',
    );
    expect(code).toBe(0);
  });

  it('routes print() to stderr from the call of serve_transform in a process no pool started', async () => {
    // The marker is unset: the print while loading is the program's own stdout, the answers follow it.
    const { stdout, code } = await runBare('serve-faults.py', input, { SUBPROCESS_TRANSFORM_CHILD: '' });
    expect(stdout).toMatch(/^printed while loading, after the import\nHTTP\/1\.1 200 OK\r\n/);
    expect(code).toBe(0);
  });

  for (const [name, broken, reason] of [
    [
      'ends in the middle of a body',
      'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf',
      'in the middle of a body',
    ],
    ['has a bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', 'Bare LF'],
    ['has neither length nor chunked', 'HTTP/1.1 200 OK\r\n\r\n', 'neither Content-Length'],
    [
      'has both length and chunked',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
      'Both',
    ],
    ['has two lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 'Conflicting'],
    ['has a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'Bad chunk size'],
    ['has a folded field', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n', 'folding'],
    ['has a head over 64 KiB', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`, 'Head too large'],
  ]) {
    it(`stops with exit status 1 on input that ${name}, after answering the messages before it`, async () => {
      const { stdout, stderr, code } = await runBare('serve-echo.py', input + broken);
      expect(stdout.split('HTTP/1.1 ').length - 1).toBe(2);
      expect(stderr).toContain(`subprocess-transform: stopped serving: `);
      expect(stderr).toContain(reason);
      expect(code).toBe(1);
    });
  }
});
