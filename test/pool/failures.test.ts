import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createTransformPool,
  type PoolOptions,
  type ProcessEvent,
  TransformError,
  type TransformOptions,
  type TransformPool,
  withTransform,
} from '../../src/index.ts';
import { describeEvent } from '../../src/shared/events.ts';
import {
  answerOf,
  createObservedPool,
  createPool,
  exists,
  exitsOf,
  fixture,
  isRunning,
  nodeFixture,
  outcomeOf,
  StderrLines,
  sleep,
  startServer,
  track,
  transformChildren,
  waitFor,
} from '../_utils.ts';

const MiB = 1024 * 1024;
const encoder = new TextEncoder();

/** A handler whose response body is the `body` query parameter: the fixtures act on it. */
function echoHandler(request: Request): Response {
  return new Response(new URL(request.url).searchParams.get('body') ?? '', {
    headers: { 'content-type': 'text/plain' },
  });
}

/** The handler, with `log`: the processes' stderr lines (forwarded to `options.stderr` if a callback). */
function faultHandler(name: string, options: Partial<TransformOptions> = {}) {
  const log = new StderrLines(options.stderr);
  const handler = track(
    withTransform(echoHandler, {
      command: nodeFixture(name),
      processes: 2,
      ...options,
      ...log.options(options.env),
    }),
  );
  return Object.assign(handler, { log });
}

function call(
  handler: (request: Request) => Promise<Response>,
  body: string,
  init?: RequestInit,
): Promise<Response> {
  return handler(new Request(`http://example.test/?body=${encodeURIComponent(body)}`, init));
}

async function expectFailure(response: Response, status: number): Promise<string> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
  const text = await response.text();
  expect(text).not.toMatch(/secret|stack|at \w+ \(/);
  return text;
}

/** The fault hits one request; a concurrent one on the other process and the next one are fine. */
async function expectIsolated(
  name: string,
  trigger: string,
  status: number,
  options: Partial<TransformOptions> = {},
) {
  const handler = faultHandler(name, options);
  // Work goes only to processes that have started, and both answer once first: a short `timeout` measures
  // the fault, never a cold start.
  await handler.log.allReady(handler.pool);
  const warm = await Promise.all([call(handler, 'warm'), call(handler, 'warm')]);
  expect(warm.map((response) => response.status)).toEqual([200, 200]);
  const [bad, good] = await Promise.all([call(handler, trigger), call(handler, 'neighbour')]);
  await expectFailure(bad, status);
  expect(good.status).toBe(200);
  expect(await good.text()).toBe('neighbour');
  // The faulty process's replacement, if any, has started too.
  await handler.log.allReady(handler.pool);
  const next = await call(handler, 'next');
  expect(next.status).toBe(200);
  expect(await next.text()).toBe('next');
  return handler;
}

/** Resolves to `fallback` if `promise` has not settled within `ms`: a hang reads as a failed assertion. */
function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

async function rejection(promise: Promise<unknown>): Promise<TransformError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(TransformError);
  return error as TransformError;
}

describe('a process that crashes', () => {
  it('before output: 502 ERR_TRANSFORM_EXIT with exit code and stderr tail, never shown to the client', async () => {
    await expectIsolated('crash-before-output.mjs', 'crash', 502);
    const pool = track(
      createTransformPool({
        command: nodeFixture('crash-before-output.mjs'),
        processes: 1,
        stderr: () => {},
      }),
    );
    const error = await rejection(pool.transform(new Response('crash')));
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_EXIT', status: 502, exitCode: 1 });
    expect(error.message).toMatch(
      /^Transform ".*crash-before-output\.mjs" \(pid \d+\) exited with code 1 before its response was complete$/,
    );
    expect(error.stderr).toContain('secret stack trace');
    expect(error.pid).toBeTypeOf('number');
  });

  it('mid-body: the client sees the body fail, never a clean end', async () => {
    // The fixture dies once this file exists: created when the head has reached the client.
    const released = join(mkdtempSync(join(tmpdir(), 'st-')), 'released');
    const command = nodeFixture('crash-mid-body.mjs', released);
    const handler = faultHandler('crash-mid-body.mjs', { command });
    const server = await startServer(handler);
    try {
      const [bad, good] = await Promise.all([
        fetch(`${server.url}/?body=crash`),
        fetch(`${server.url}/?body=neighbour`),
      ]);
      expect(bad.status).toBe(200);
      writeFileSync(released, '');
      await expect(bad.text()).rejects.toThrow();
      expect(await good.text()).toBe('neighbour');
      expect(await (await fetch(`${server.url}/?body=next`)).text()).toBe('next');
    } finally {
      await server.stop();
    }
    const pool = track(createTransformPool({ command, processes: 1 }));
    // The file is there already: this one dies as soon as it has written the head.
    const response = await pool.transform(new Response('crash'));
    const error = await rejection(response.text());
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_EXIT', signal: 'SIGKILL' });
  });

  it('exiting 0 mid-response is still a failure', async () => {
    const pool = track(createTransformPool({ command: nodeFixture('exit-mid-response.mjs'), processes: 2 }));
    const [response, neighbour] = await Promise.all([
      pool.transform(new Response('crash')),
      pool.transform(new Response('neighbour')),
    ]);
    const error = await rejection(response.text());
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_EXIT', exitCode: 0 });
    expect(await neighbour.text()).toBe('neighbour');
    expect(await (await pool.transform(new Response('after'))).text()).toBe('after');
  });

  it('at start: fails fast with ERR_TRANSFORM_SPAWN while backing off, then recovers', async () => {
    const counter = join(mkdtempSync(join(tmpdir(), 'st-')), 'starts');
    const handler = faultHandler('crash-at-start.mjs', {
      processes: 1,
      env: { COUNTER_FILE: counter, CRASHES: '4' },
    });
    // Two starts die with nothing on board: the command cannot start whatever it is given. (A death holding
    // a message may be that message's poison: it never makes work fail fast.)
    expect(await waitFor(() => handler.pool.stats().backoffs >= 1, 20_000)).toBe(true);
    const first = await call(handler, 'hello');
    await expectFailure(first, 502);
    const errors: string[] = [];
    const started = Date.now();
    let recovered: Response | undefined;
    // Five starts and 700 ms of backoff take about 1.3 s on a quiet machine: give it ten times that and more.
    while (Date.now() - started < 30_000) {
      const error = await handler.pool.transform(new Response('hello')).then(
        (response) => {
          recovered = response;
          return undefined;
        },
        (reason: TransformError) => reason.code,
      );
      if (recovered !== undefined) break;
      errors.push(error as string);
      await sleep(25);
    }
    expect(errors).toContain('ERR_TRANSFORM_SPAWN');
    expect(await recovered?.text()).toBe('hello');
    // Backoff, not a hot loop: 4 failed starts and the good one.
    expect(Number(readFileSync(counter, 'utf8'))).toBe(5);
  });

  it('that cannot be started: ERR_TRANSFORM_SPAWN, without a hot spawn loop', async () => {
    const pool = track(createTransformPool({ command: [fixture('missing-interpreter.sh')], processes: 2 }));
    const error = await rejection(pool.transform(new Response('x')));
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_SPAWN', status: 502 });
    await sleep(1000);
    const again = await rejection(pool.transform(new Response('x')));
    expect(again.code).toBe('ERR_TRANSFORM_SPAWN');
    expect(pool.stats().started).toBeLessThan(16);
  });

  it('while idle: it is replaced and the next transform succeeds', async () => {
    const handler = faultHandler('dies-when-idle.mjs', { processes: 1 });
    expect(await (await call(handler, 'die')).text()).toBe('die');
    // It exits 50 ms after answering: wait for that exit, not for a time that may not be enough.
    expect(await waitFor(() => handler.pool.stats().exited === 1)).toBe(true);
    expect(await (await call(handler, 'after')).text()).toBe('after');
    expect(handler.pool.stats()).toMatchObject({ exited: 1, failed: 0 });
  });

  it('found dead when a transform starts: the transform is retried once, transparently', async () => {
    const handler = faultHandler('closes-stdin-when-idle.mjs', { processes: 1 });
    expect(await (await call(handler, 'close')).text()).toBe('close');
    await handler.log.until('stdin closed');
    const response = await call(handler, 'retried');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('retried');
    expect(handler.pool.stats()).toMatchObject({ failed: 0, ok: 2 });
  });
});

describe('a process that stops answering after it read its message', () => {
  /** The lines of the side-effect log: one per message read, `<pid> <body>`. */
  function readsOf(log: string): string[] {
    return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
  }

  for (const [trigger, how] of [
    ['exit', 'exits with code 0'],
    ['close', 'closes its stdout and lingers'],
  ] as const) {
    it(`and ${how}: that message fails with ERR_TRANSFORM_EXIT and is never read again`, async () => {
      const log = join(mkdtempSync(join(tmpdir(), 'st-')), 'reads');
      const pool = track(
        createTransformPool({
          command: nodeFixture('reads-then-quits.mjs'),
          processes: 1,
          timeout: 0,
          env: { READ_LOG: log },
          stderr: 'ignore',
        }),
      );
      expect(await (await pool.transform(new Response('warm'))).text()).toBe('warm');
      const error = await rejection(pool.transform(new Response(trigger)));
      expect(error.code).toBe('ERR_TRANSFORM_EXIT');
      expect(await (await pool.transform(new Response('after'))).text()).toBe('after');
      // A retry would show a second read of the trigger, by another pid.
      expect(readsOf(log).map((line) => line.split(' ')[1])).toEqual(['warm', trigger, 'after']);
      expect(pool.stats()).toMatchObject({ ok: 2, failed: 1, started: 2 });
    });
  }
});

describe('a process that closes its stdout in the middle of an answer and lingers', () => {
  for (const timeout of [0, 600_000]) {
    it(`fails that answer at once, is killed, and the next message is served (timeout ${timeout})`, async () => {
      const pool = track(
        createTransformPool({
          command: nodeFixture('cut-answer.mjs'),
          processes: 1,
          timeout,
          stderr: 'ignore',
        }),
      );
      expect(await (await pool.transform(new Response('warm'))).text()).toBe('warm');
      const pid = pool.stats().processes[0]?.pid as number;
      const response = await pool.transform(new Response('cut'));
      const body = response.text().then(
        () => 'completed',
        (error: TransformError) => error.code,
      );
      // At once: a few ms; 20 s is far beyond any machine's slowness, and far short of the timeout.
      expect(await within(body, 20_000, 'still pending after 20 s')).toMatch(
        /^ERR_TRANSFORM_(EXIT|PROTOCOL)$/,
      );
      const next = pool.transform(new Response('next')).then((answer) => answer.text());
      expect(await within(next, 20_000, 'still waiting after 20 s')).toBe('next');
      expect(await waitFor(() => !exists(pid), 10_000)).toBe(true);
      expect(pool.stats()).toMatchObject({ ok: 2, failed: 1, started: 2 });
    });
  }
});

describe('a process that hangs', () => {
  it('before its head: 504 after `timeout`, killed and replaced', async () => {
    const handler = await expectIsolated('hang.mjs', 'hang', 504, { timeout: 300 });
    expect(handler.pool.stats()).toMatchObject({ timedOut: 1 });
    // Both processes answer first: a hang sent to the replacement before its first answer would wait out
    // startTimeout (30 s, half the test's own bound), not `timeout`.
    const warm = await Promise.all([call(handler, 'warm'), call(handler, 'warm')]);
    expect(warm.map((response) => response.status)).toEqual([200, 200]);
    expect(handler.pool.stats().processes.map((process) => process.transforms > 0)).toEqual([true, true]);
    const error = await rejection(handler.pool.transform(new Response('hang')));
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_TIMEOUT', status: 504 });
    expect(error.timedOut).toBe(true);
  });

  it('with a slow head: 504 past the timeout, 200 within it', async () => {
    // Ten times the timeout: the answer never races the kill, and nobody waits for it (the kill ends it).
    await expectIsolated('slow-head.mjs', 'slow', 504, { timeout: 200, env: { SLOW_MS: '2000' } });
    // 300 ms of deliberate slowness, and ten times that as the timeout it stays within.
    const patient = faultHandler('slow-head.mjs', { timeout: 3000, env: { SLOW_MS: '300' } });
    await patient.log.allReady(patient.pool);
    expect(await (await call(patient, 'slow')).text()).toBe('slow');
  });

  it('silent mid-body: the body errors after `timeout`', async () => {
    const log = new StderrLines();
    const pool = track(
      createTransformPool({
        command: nodeFixture('silent-mid-body.mjs'),
        processes: 1,
        timeout: 300,
        ...log.options(),
      }),
    );
    // Only the silence may take 300 ms, never a cold start: the process and its replacement start first.
    await log.allReady(pool);
    const response = await pool.transform(new Response('stall'));
    const error = await rejection(response.text());
    expect(error.code).toBe('ERR_TRANSFORM_TIMEOUT');
    await log.allReady(pool);
    expect(await (await pool.transform(new Response('after'))).text()).toBe('after');
  });

  it('and ignores SIGTERM: SIGKILL follows, and close() still ends it', async () => {
    const handler = await expectIsolated('ignores-sigterm.mjs', 'hang', 504, { timeout: 200 });
    const pids = transformChildren().map((child) => child.pid);
    // The good process and the replacement, and the one that hung unless SIGKILL has ended it already.
    expect(pids.length).toBeGreaterThanOrEqual(2);
    await handler.pool.close({ timeout: 200 });
    // About 1.2 s on a quiet machine (a 1 s grace between SIGTERM and SIGKILL); no process may outlive close() by 10 s.
    expect(await waitFor(() => pids.every((pid) => !exists(pid)), 10_000)).toBe(true);
  });
});

describe('a process that breaks the protocol', () => {
  it('writing while idle: killed, and its bytes reach no client', async () => {
    const handler = faultHandler('garbage-when-idle.mjs');
    const [first, neighbour] = await Promise.all([call(handler, 'garbage'), call(handler, 'neighbour')]);
    expect(await first.text()).toBe('garbage');
    expect(await neighbour.text()).toBe('neighbour');
    expect(await waitFor(() => handler.pool.stats().exited === 1)).toBe(true);
    for (let i = 0; i < 4; i++) expect(await (await call(handler, `next ${i}`)).text()).toBe(`next ${i}`);
  });

  it('answering twice: 502, and neither answer is delivered', async () => {
    const handler = await expectIsolated('two-responses.mjs', 'twice', 502);
    const error = await rejection(handler.pool.transform(new Response('twice')));
    expect(error.code).toBe('ERR_TRANSFORM_PROTOCOL');
    expect(error.message).toMatch(/second response/);
  });

  it('with a head over maxHeaderBytes: 502 ERR_TRANSFORM_PROTOCOL', async () => {
    const handler = await expectIsolated('huge-head.mjs', 'huge', 502);
    const error = await rejection(handler.pool.transform(new Response('huge')));
    expect(error.code).toBe('ERR_TRANSFORM_PROTOCOL');
    expect(error.message).toMatch(/larger than 65536 bytes/);
  });

  it('answering another request id: 502', async () => {
    await expectIsolated('wrong-id.mjs', 'wrong', 502);
  });

  it('with an endless body past maxBodyBytes: the body errors', async () => {
    const pool = track(
      createTransformPool({
        command: nodeFixture('endless-body.mjs'),
        processes: 2,
        limits: { maxBodyBytes: 1024 * 1024 },
      }),
    );
    const [response, neighbour] = await Promise.all([
      pool.transform(new Response('endless')),
      pool.transform(new Response('neighbour')),
    ]);
    const error = await rejection(response.arrayBuffer());
    expect(error.code).toBe('ERR_TRANSFORM_PROTOCOL');
    expect(error.message).toMatch(/Body larger than 1048576 bytes/);
    expect(await neighbour.text()).toBe('neighbour');
    expect(await (await pool.transform(new Response('after'))).text()).toBe('after');
  });

  it('with stray bytes after an answer: the event shows the stray bytes, the log line one prefix', async () => {
    const events: ProcessEvent[] = [];
    const pool = track(
      createTransformPool({
        command: nodeFixture('garbage-after-body.mjs'),
        processes: 1,
        onEvent: (event) => events.push(event),
      }),
    );
    const error = await rejection(pool.transform(new Response('x')).then((response) => response.text()));
    expect(error.code).toBe('ERR_TRANSFORM_PROTOCOL');
    expect(await waitFor(() => events.some((event) => event.type === 'protocol-error'))).toBe(true);
    const event = events.find((candidate) => candidate.type === 'protocol-error') as ProcessEvent & {
      bytes: string;
      message: string;
    };
    // From the first unexpected byte: the body's last five bytes came in the same read, and are not shown.
    expect(event.bytes).toBe('GARBAGE');
    const line = describeEvent(event) as string;
    expect(line.match(/broke the protocol/g)).toHaveLength(1);
    expect(line.match(/\(pid \d+\)/g)).toHaveLength(1);
    expect(line).toMatch(
      /^transform ".*garbage-after-body\.mjs" \(pid \d+\) broke the protocol: wrote more after its answer/,
    );
  });

  it('with a debug print on stdout: shows the whole offending line and says stray output is the likely cause', async () => {
    const events: ProcessEvent[] = [];
    const pool = track(
      createTransformPool({
        command: nodeFixture('debug-print.mjs'),
        processes: 1,
        onEvent: (event) => events.push(event),
      }),
    );
    const error = await rejection(pool.transform(new Response('debug')));
    const detail =
      'Bare LF: lines must end with CRLF (at byte 11); this output is not an answer: stray output on stdout (a debug print, a banner) is the likely cause, write logs to stderr';
    expect(error.code).toBe('ERR_TRANSFORM_PROTOCOL');
    expect(error.message).toMatch(/^Transform ".*debug-print\.mjs" \(pid \d+\) broke the protocol: /);
    expect(error.message.endsWith(detail)).toBe(true);
    expect(await waitFor(() => events.some((event) => event.type === 'protocol-error'))).toBe(true);
    const event = events.find((candidate) => candidate.type === 'protocol-error');
    expect(event).toMatchObject({ message: detail, bytes: 'debug: here\\n' });
    expect(describeEvent(event as ProcessEvent)).toMatch(
      /\(pid \d+\) broke the protocol: Bare LF: .* write logs to stderr; output: "debug: here\\n"$/,
    );
  });

  it('sending framing, hop-by-hop and context fields: none reaches the Response', async () => {
    const pool = track(createTransformPool({ command: nodeFixture('hop-by-hop.mjs'), processes: 1 }));
    const response = await pool.transform(new Response('x'));
    expect([...response.headers]).toEqual([
      ['content-type', 'text/plain'],
      ['x-kept', 'yes'],
    ]);
    expect(await response.text()).toBe('clean');
  });
});

describe('stderr', () => {
  it('is drained: megabytes per response never stall a transform', async () => {
    let lines = 0;
    const pool = track(
      createTransformPool({
        command: nodeFixture('stderr-flood.mjs'),
        processes: 1,
        stderr: () => void lines++,
      }),
    );
    for (let i = 0; i < 5; i++)
      expect(await (await pool.transform(new Response(`r${i}`))).text()).toBe(`r${i}`);
    // 2048 lines and 2 MiB without a newline, cut in 16 KiB pieces, per response.
    expect(lines).toBeGreaterThanOrEqual(5 * 2048);
    const ignored = track(
      createTransformPool({ command: nodeFixture('stderr-flood.mjs'), processes: 1, stderr: 'ignore' }),
    );
    expect(await (await ignored.transform(new Response('quiet'))).text()).toBe('quiet');
  });
});

describe('Transform-Error', () => {
  it('answers 502 ERR_TRANSFORM_FAILED and keeps the process', async () => {
    const reasons: string[] = [];
    const handler = await expectIsolated('transform-error.mjs', 'fail', 502, {
      stderr: (line) => reasons.push(line),
    });
    const error = await rejection(handler.pool.transform(new Response('fail')));
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_FAILED' });
    expect(error.message).toMatch(/cannot render this one/);
    expect(handler.pool.stats()).toMatchObject({ started: 2, exited: 0 });
  });
});

describe('a Transform-Error answer with an endless body', () => {
  async function expectDiscardBounded(options: Partial<PoolOptions>): Promise<TransformPool> {
    const log = new StderrLines();
    const pool = track(
      createTransformPool({
        command: nodeFixture('error-endless-body.mjs'),
        processes: 1,
        ...options,
        ...log.options(),
      }),
    );
    await log.allReady(pool);
    expect(await (await pool.transform(new Response('warm'))).text()).toBe('warm');
    const error = await rejection(pool.transform(new Response('fail')));
    expect(error.code).toBe('ERR_TRANSFORM_FAILED');
    // Queued behind the endless discard: served once the process is killed and replaced.
    const next = pool.transform(new Response('next')).then((response) => response.text());
    expect(await within(next, 30_000, 'still waiting after 30 s')).toBe('next');
    expect(pool.stats()).toMatchObject({ started: 2, exited: 1, ok: 2 });
    expect(pool.stats().failed).toBe(1);
    return pool;
  }

  it('is discarded for `timeout` at most in total, then the process is replaced', async () => {
    await expectDiscardBounded({ timeout: 1000 });
  });

  it('is discarded up to maxBodyBytes at most, then the process is replaced', async () => {
    await expectDiscardBounded({ timeout: 0, limits: { maxBodyBytes: 1024 * 1024 } });
  });
});

describe('onError', () => {
  it("'passthrough' returns the original response", async () => {
    const handler = faultHandler('crash-before-output.mjs', { onError: 'passthrough' });
    const response = await call(handler, 'crash');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain');
    expect(await response.text()).toBe('crash');
  });

  it('a function gets the error, the request and the original', async () => {
    const handler = faultHandler('crash-before-output.mjs', {
      onError: async (error, request, original) =>
        new Response(`${error.code} ${new URL(request?.url ?? '').search} ${await original?.text()}`, {
          status: 500,
        }),
    });
    const response = await call(handler, 'crash');
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('ERR_TRANSFORM_EXIT ?body=crash crash');
  });
});

describe('the queue', () => {
  it('answers 503 with Retry-After at once past maxQueue', async () => {
    const handler = faultHandler('slow-head.mjs', { processes: 1, maxQueue: 1, env: { SLOW_MS: '300' } });
    const running = call(handler, 'slow');
    // The process has it, so the next one waits in the queue and the one after is refused.
    expect(await waitFor(() => handler.pool.stats().busy === 1)).toBe(true);
    const queued = call(handler, 'queued');
    const refused = await call(handler, 'refused');
    await expectFailure(refused, 503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await (await running).text()).toBe('slow');
    expect(await (await queued).text()).toBe('queued');
  });
});

describe('client abort', () => {
  it('while queued: ERR_TRANSFORM_ABORTED, and the transform never runs', async () => {
    const pool = track(
      createTransformPool({ command: nodeFixture('slow-head.mjs'), processes: 1, env: { SLOW_MS: '200' } }),
    );
    const first = pool.transform(new Response('slow'));
    const controller = new AbortController();
    const queued = pool.transform(new Response('never'), { signal: controller.signal });
    expect(pool.stats().queued).toBe(1);
    controller.abort();
    expect(await rejection(queued)).toMatchObject({ code: 'ERR_TRANSFORM_ABORTED', status: undefined });
    expect(pool.stats().queued).toBe(0);
    expect(await (await first).text()).toBe('slow');
  });

  it('before the head: the process is drained and kept', async () => {
    const log = new StderrLines();
    const pool = track(
      createTransformPool({
        command: nodeFixture('slow-head.mjs'),
        processes: 1,
        ...log.options({ SLOW_MS: '500' }),
      }),
    );
    const controller = new AbortController();
    const pending = pool.transform(new Response('slow'), { signal: controller.signal });
    // Abort once the process holds the message: its head is 500 ms away, and the pool drains an abandoned
    // transform for up to 1 s. Both need a few milliseconds on a quiet machine, however slow its start.
    await log.until('waiting');
    controller.abort();
    expect((await rejection(pending)).code).toBe('ERR_TRANSFORM_ABORTED');
    expect(await (await pool.transform(new Response('next'))).text()).toBe('next');
    expect(pool.stats()).toMatchObject({ started: 1, exited: 0 });
  });

  it('mid-body (the body is cancelled): an endless process is killed and replaced', async () => {
    const pool = track(createTransformPool({ command: nodeFixture('endless-body.mjs'), processes: 1 }));
    const response = await pool.transform(new Response('endless'));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    expect(await (await pool.transform(new Response('after'))).text()).toBe('after');
    expect(await waitFor(() => pool.stats().exited === 1)).toBe(true);
  });
});

describe('lifecycle', () => {
  it('maxRequestsPerProcess retires a process after that many transforms', async () => {
    const pool = track(createTransformPool({ command: 'cat', processes: 1, maxRequestsPerProcess: 2 }));
    for (let i = 0; i < 5; i++)
      expect(await (await pool.transform(new Response(`${i}`))).text()).toBe(`${i}`);
    expect(pool.stats().started).toBe(3);
  });

  it('the recycle hook retires a process when it says so', async () => {
    const seen: number[] = [];
    const pool = track(
      createTransformPool({
        command: 'cat',
        processes: 1,
        recycle: async ({ transforms, pid, startedAt }) => {
          expect(pid).toBeTypeOf('number');
          expect(startedAt).toBeLessThanOrEqual(Date.now());
          seen.push(transforms);
          return transforms >= 3;
        },
      }),
    );
    for (let i = 0; i < 4; i++) await (await pool.transform(new Response('x'))).text();
    expect(seen).toEqual([1, 2, 3, 1]);
    expect(pool.stats().started).toBe(2);
  });

  it('reload() replaces every process without failing a transform in flight', async () => {
    const pool = track(createTransformPool({ command: nodeFixture('slow.mjs', '300'), processes: 2 }));
    await Promise.all([pool.transform(new Response('warm')), pool.transform(new Response('warm'))]);
    const before = transformChildren().map((child) => child.pid);
    expect(before).toHaveLength(2);
    const inFlight = pool.transform(new Response('in flight'));
    await sleep(50);
    await pool.reload();
    expect(await (await inFlight).text()).toBe('in flight');
    const after = transformChildren().map((child) => child.pid);
    expect(after).toHaveLength(2);
    expect(after.some((pid) => before.includes(pid))).toBe(false);
    expect(await (await pool.transform(new Response('fresh'))).text()).toBe('fresh');
    expect(pool.stats().failed).toBe(0);
  });

  it('close() kills the whole process group of a shell command', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'st-')), 'grandchild');
    const pool = createTransformPool({
      command: [fixture('shell-group.sh')],
      processes: 1,
      env: { GRANDCHILD_FILE: file },
    });
    expect(await (await pool.transform(new Response('through sh'))).text()).toBe('through sh');
    const grandchild = Number(readFileSync(file, 'utf8'));
    expect(exists(grandchild)).toBe(true);
    await pool.close();
    expect(await waitFor(() => !exists(grandchild))).toBe(true);
  });
});

describe('a process that ignores SIGTERM', () => {
  // Defect: GroupProcess.terminate() sends SIGTERM and never the SIGKILL a grace later.
  it('is killed with SIGKILL a grace after the SIGTERM, while the pool stays open', async () => {
    const { pool, events } = createObservedPool(nodeFixture('ignores-sigterm.mjs'), { timeout: 1000 });
    // It has answered, so the 1 s timeout applies to "hang" (a first answer would get startTimeout).
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('warm');
    const [hung] = pool.stats().processes;
    expect(await outcomeOf(pool.transform(new Response('hang')))).toBe('rejected ERR_TRANSFORM_TIMEOUT');
    // About 1 s of grace on a quiet machine.
    expect(await waitFor(() => exitsOf(events).length === 1, 10_000)).toBe(true);
    expect(exitsOf(events)).toMatchObject([{ pid: hung?.pid, signal: 'SIGKILL', reason: 'timeout' }]);
    expect(isRunning(hung?.pid as number)).toBe(false);
    expect(await outcomeOf(pool.transform(new Response('after')))).toBe('after');
  });
});

describe('an abandoned answer', () => {
  // Defect: Exchange.onBody() ignores DRAIN_MAX_BYTES while discarding, so only the 1 s drain timer ends it.
  it('is drained at most 1 MiB: an endless one gets its process killed and replaced', async () => {
    const { pool, events, log } = createObservedPool(nodeFixture('endless-counted.mjs'));
    const response = await pool.transform(new Response('endless'));
    const [endless] = pool.stats().processes;
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    // The process tells how much of its answer was read when the SIGTERM came: the 1 MiB bound and
    // what the pipes and the reader's queue held, nowhere near what a second of draining at pipe speed takes.
    expect(await waitFor(() => log.lines.some((line) => line.startsWith('wrote ')), 10_000)).toBe(true);
    const wrote = Number(log.lines.find((line) => line.startsWith('wrote '))?.slice('wrote '.length));
    expect(wrote).toBeGreaterThan(1 * MiB);
    expect(wrote).toBeLessThan(8 * MiB);
    expect(await outcomeOf(pool.transform(new Response('after')))).toBe('after');
    expect(await waitFor(() => exitsOf(events).length === 1, 10_000)).toBe(true);
    expect(exitsOf(events)).toMatchObject([{ pid: endless?.pid, reason: 'abort' }]);
  });

  // Defect: Exchange.onDone() leaves the drain timer running; it fires later and kills the process.
  it('drained in time leaves no timer behind to kill its process during the next transform', async () => {
    // "slow" is answered 2.5 s after it is read: past the 1 s a drain may take, counted from the abort.
    const { pool, events } = createObservedPool(nodeFixture('slow-head.mjs'), { env: { SLOW_MS: '2500' } });
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('warm');
    const [kept] = pool.stats().processes;
    const controller = new AbortController();
    const left = outcomeOf(pool.transform(new Response('left'), { signal: controller.signal }));
    // The process has the message already: its answer is drained, and it is kept.
    controller.abort();
    expect(await left).toBe('rejected ERR_TRANSFORM_ABORTED');
    expect(await outcomeOf(pool.transform(new Response('slow')))).toBe('slow');
    expect(pool.stats().processes).toMatchObject([{ pid: kept?.pid, transforms: 3 }]);
    expect(exitsOf(events)).toEqual([]);
  });
});

describe('a Transform-Error answer', () => {
  // Defect: the silence timer stops at a Transform-Error head, so a stalled discard is never timed out.
  it('that stalls mid-body is killed after `timeout` and replaced', async () => {
    const { pool, events } = createObservedPool(nodeFixture('misbehaves.mjs'), { timeout: 1000 });
    const warm = await answerOf(pool, 'warm');
    // The caller hears at once; the process is still discarding the body it stalls in.
    expect(await outcomeOf(pool.transform(new Response('error-stall')))).toBe(
      'rejected ERR_TRANSFORM_FAILED',
    );
    // About 1 s of silence, then the kill: ten times that at most.
    expect(await waitFor(() => exitsOf(events).length === 1, 10_000)).toBe(true);
    const next = await answerOf(pool, 'next');
    expect(next.text).toBe('next');
    expect(next.pid).not.toBe(warm.pid);
    expect(exitsOf(events)).toMatchObject([{ pid: Number(warm.pid), reason: 'timeout' }]);
    expect(pool.stats()).toMatchObject({ ok: 2, failed: 1 });
  });
});

describe('the timeout counts the transform’s silence, not the handler’s', () => {
  // Defect: SilenceTimer.resume() does not restart the count, so a handler's pause counts as the
  // transform's silence.
  it('a handler body that pauses longer than `timeout`, then a prompt answer: it succeeds', async () => {
    const timeout = 2000;
    // "slow" is answered 200 ms after it is read: a tenth of the timeout.
    const { pool, events } = createObservedPool(nodeFixture('slow-head.mjs'), {
      timeout,
      env: { SLOW_MS: '200' },
    });
    expect(await outcomeOf(pool.transform(new Response('warm')))).toBe('warm');
    let finish!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('sl'));
        finish = () => {
          controller.enqueue(encoder.encode('ow'));
          controller.close();
        };
      },
    });
    const result = outcomeOf(pool.transform(new Response(body)));
    // The pool checks the silence every `timeout` while the handler pauses, from when the transform began
    // (just now). The body ends 50 ms before its second check, timed from the first with the same timers:
    // a pause that counted would fail the transform at that check, before its answer could come.
    setTimeout(() => setTimeout(finish, timeout - 50), timeout);
    expect(await result).toBe('slow');
    expect(exitsOf(events)).toEqual([]);
    expect(pool.stats()).toMatchObject({ ok: 2, timedOut: 0 });
  });
});

describe('a transform whose handler or output misbehaves', () => {
  it('a slow handler body is not the transform timing out', async () => {
    const log = new StderrLines();
    const pool = track(
      createTransformPool({
        command: nodeFixture('upper.mjs'),
        processes: 1,
        timeout: 500,
        ...log.options(),
      }),
    );
    // The handler's pauses are what must not count: a cold start must not count either.
    await log.allReady(pool);
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        for (let i = 0; i < 8; i++) {
          controller.enqueue(encoder.encode(`part${i} `));
          await sleep(150);
        }
        controller.close();
      },
    });
    expect(await outcomeOf(pool.transform(new Response(body)))).toBe(
      'PART0 PART1 PART2 PART3 PART4 PART5 PART6 PART7 ',
    );
    expect(pool.stats().exited).toBe(0);
  });

  it('bytes after a message fail it, even when its head was handed out, and it is counted once', async () => {
    const pool = track(
      createTransformPool({ command: nodeFixture('garbage-after-body.mjs'), processes: 1, stderr: 'ignore' }),
    );
    const response = await pool.transform(new Response('x'));
    const error = await response.text().then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(TransformError);
    expect((error as TransformError).code).toBe('ERR_TRANSFORM_PROTOCOL');
    expect(await waitFor(() => pool.stats().failed === 1)).toBe(true);
    expect(pool.stats()).toMatchObject({ ok: 0, failed: 1 });
  });
});

describe('a broken process is replaced', () => {
  it('after a protocol error the next transform runs on a new pid and the old one is gone', async () => {
    const pool = createPool({ command: nodeFixture('pid-faults.mjs'), pipeline: 4 });
    const first = await outcomeOf(pool.transform(new Response('pid')));
    expect(first).toMatch(/^\d+$/);
    expect(await outcomeOf(pool.transform(new Response('garbage')))).toBe('rejected ERR_TRANSFORM_PROTOCOL');
    const second = await outcomeOf(pool.transform(new Response('pid')));
    expect(second).toMatch(/^\d+$/);
    expect(second).not.toBe(first);
    expect(await waitFor(() => !exists(Number(first)), 10_000)).toBe(true);
  }, 60_000);

  it('after a timeout the next transform runs on a new pid and the old one is gone', async () => {
    const pool = createPool({ command: nodeFixture('pid-faults.mjs'), timeout: 3000, pipeline: 4 });
    const first = await outcomeOf(pool.transform(new Response('pid')));
    expect(first).toMatch(/^\d+$/);
    expect(await outcomeOf(pool.transform(new Response('hang')))).toBe('rejected ERR_TRANSFORM_TIMEOUT');
    const second = await outcomeOf(pool.transform(new Response('pid')));
    expect(second).toMatch(/^\d+$/);
    expect(second).not.toBe(first);
    expect(await waitFor(() => !exists(Number(first)), 10_000)).toBe(true);
  }, 60_000);
});
