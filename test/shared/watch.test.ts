import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serveFetch } from '../../src/cli/node-http.ts';
import { createTransformPool, type PoolOptions, type ProcessEvent } from '../../src/index.ts';
import type { Pool } from '../../src/pool/pool.ts';
import { kill, runCli, startProxy } from '../_cli.ts';
import { fixture, nodeFixture, StderrLines, sleep, track, waitFor } from '../_utils.ts';

const folders: string[] = [];
/** The stop() of traffic still running: a test whose assertion failed first never leaves it spinning. */
const stops: (() => Promise<void>)[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(stops.splice(0).map((stop) => stop()));
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** A folder holding `template.mjs`, which exports `text`; returns the template's path. */
function makeTemplate(text: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'watch-'));
  folders.push(folder);
  const path = join(folder, 'template.mjs');
  writeTemplate(path, text);
  return path;
}

function writeTemplate(path: string, text: string): void {
  writeFileSync(path, `export default ${JSON.stringify(text)};\n`);
}

/** A pool of the renderer, watching its template; resolves once the watcher has scanned. */
async function startRenderer(template: string, options: Partial<PoolOptions> = {}) {
  const log = new StderrLines();
  const pool = track(
    createTransformPool({
      command: nodeFixture('watch-render.mjs', template),
      processes: 2,
      watch: template,
      ...log.options(),
      ...options,
    }),
  );
  await (pool as Pool).watching;
  return { pool, log };
}

/**
 * Send transforms one after another on `loops` loops until `stop()`; every answer (or error) is kept in
 * order per loop.
 */
function sendContinuously(pool: ReturnType<typeof createTransformPool>, loops = 2) {
  let running = true;
  const answers: string[][] = Array.from({ length: loops }, () => []);
  const done = Promise.all(
    answers.map(async (seen) => {
      while (running) {
        try {
          seen.push(await (await pool.transform(new Response('x'))).text());
        } catch (error) {
          seen.push(`error: ${(error as Error).message}`);
          // A pool that fails at once (closed, backing off) must not starve the timers of the test.
          await sleep(10);
        }
      }
    }),
  );
  const stop = async (): Promise<void> => {
    running = false;
    await done;
  };
  stops.push(stop);
  return { answers, last: () => answers.map((seen) => seen.at(-1)), stop };
}

/** The distinct answers of one loop, in the order they first came: a switch back shows as a repeat. */
function runsOf(seen: readonly string[]): string[] {
  return seen.filter((answer, index) => index === 0 || seen[index - 1] !== answer);
}

describe('watch', () => {
  it('switches to an edited template with no failed transform, never back', async () => {
    const template = makeTemplate('v1');
    const { pool } = await startRenderer(template);
    const traffic = sendContinuously(pool);
    expect(await waitFor(() => traffic.answers.every((seen) => seen.length >= 3), 10_000)).toBe(true);
    writeTemplate(template, 'v2');
    const switched = await waitFor(() => traffic.last().every((answer) => answer === 'v2'), 15_000);
    await traffic.stop();
    expect(switched).toBe(true);
    for (const seen of traffic.answers) expect(runsOf(seen)).toEqual(['v1', 'v2']);
    const stats = pool.stats();
    expect(stats.failed).toBe(0);
    // The old processes retired: only new ones serve (2), none left over.
    const settled = await waitFor(() => pool.stats().alive === 2, 10_000);
    expect(settled, JSON.stringify(pool.stats())).toBe(true);
  });

  it('keeps the old processes serving through a broken edit, logs it with stderr, and takes the fix', async () => {
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
    });
    const template = makeTemplate('v1');
    const { pool, log } = await startRenderer(template);
    const traffic = sendContinuously(pool);
    expect(await waitFor(() => traffic.answers.every((seen) => seen.length >= 3), 10_000)).toBe(true);
    writeFileSync(template, 'export default "v2\n');
    const reported = await waitFor(() => logged.some((line) => line.includes('SyntaxError')), 15_000);
    expect(reported, logged.join('\n')).toBe(true);
    const report = logged.find((line) => line.includes('SyntaxError')) as string;
    expect(report).toMatch(
      /^subprocess-transform: transform ".*watch-render\.mjs .*template\.mjs" \(pid \d+\) exited with code 1 before its first answer after a change to .*template\.mjs; the old processes keep serving; its stderr ends:\n[\s\S]*SyntaxError/,
    );
    expect(log.lines.some((line) => line.includes('SyntaxError'))).toBe(true);
    // Still served by the old processes after the failure.
    const before = traffic.answers.map((seen) => seen.length);
    expect(
      await waitFor(() =>
        traffic.answers.every((seen, index) => seen.length >= (before[index] as number) + 3),
      ),
    ).toBe(true);
    writeTemplate(template, 'v3');
    const fixed = await waitFor(() => traffic.last().every((answer) => answer === 'v3'), 15_000);
    await traffic.stop();
    expect(fixed).toBe(true);
    for (const seen of traffic.answers) expect(runsOf(seen)).toEqual(['v1', 'v3']);
    expect(pool.stats().failed).toBe(0);
  });

  it('never reduces the serving set when a broken edit lands while a good one replaces the processes', async () => {
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
    });
    const events: ProcessEvent[] = [];
    const template = makeTemplate('v1');
    // Each process loads the template 1 s after its start: the replacements started when the good edit is
    // proven load whatever the template holds by then.
    const { pool } = await startRenderer(template, {
      env: { LOAD_DELAY_MS: '1000' },
      onEvent: (event) => events.push(event),
    });
    const traffic = sendContinuously(pool);
    // Stopped whatever happens: a loop left running on a closed pool would spin.
    try {
      await checkServingSet(traffic);
    } finally {
      await traffic.stop();
    }
    expect(traffic.answers.flat().filter((answer) => answer.startsWith('error'))).toEqual([]);
    expect(events.filter((event) => event.type === 'backoff')).toEqual([]);
    expect(pool.stats().failed).toBe(0);
    // The old processes kept in reserve are gone once the fix has replaced every process.
    const settled = await waitFor(() => pool.stats().alive === 2, 15_000);
    expect(settled, JSON.stringify(pool.stats())).toBe(true);

    async function checkServingSet(traffic: ReturnType<typeof sendContinuously>): Promise<void> {
      expect(await waitFor(() => traffic.answers.every((seen) => seen.length >= 3), 15_000)).toBe(true);
      writeTemplate(template, 'v2');
      expect(await waitFor(() => traffic.answers.some((seen) => seen.includes('v2')), 15_000)).toBe(true);
      writeFileSync(template, 'export default "v3\n');
      const broken = await waitFor(
        () => logged.some((line) => /after a change to .*; the old processes keep serving/.test(line)),
        20_000,
      );
      expect(broken, logged.join('\n')).toBe(true);
      // Two processes serve, none crash-loops: every transform is answered, and nothing backs off.
      const before = traffic.answers.map((seen) => seen.length);
      expect(
        await waitFor(() =>
          traffic.answers.every((seen, index) => seen.length >= (before[index] as number) + 5),
        ),
      ).toBe(true);
      const serving = pool.stats().processes.filter((process) => process.state !== 'retiring');
      expect(serving.map((process) => process.state === 'starting')).toEqual([false, false]);
      writeTemplate(template, 'v4');
      const fixed = await waitFor(() => traffic.last().every((answer) => answer === 'v4'), 20_000);
      expect(fixed).toBe(true);
    }
  }, 120_000);

  it('reports a symlink loop in a watched folder once, and still reloads on an edit', async () => {
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
    });
    const template = makeTemplate('v1');
    const folder = dirname(template);
    symlinkSync('.', join(folder, 'loop'));
    symlinkSync(join(folder, 'self'), join(folder, 'self'));
    const { pool } = await startRenderer(template, { watch: folder });
    expect(await (await pool.transform(new Response('x'))).text()).toBe('v1');
    const lines = logged.filter((line) => line.startsWith('subprocess-transform: watching'));
    expect(lines).toEqual([
      expect.stringMatching(
        /^subprocess-transform: watching the transform sources: ELOOP: too many symbolic links encountered, .*\(further errors of this kind are not shown\)$/,
      ),
    ]);
    expect(lines[0]).not.toContain('\n');
    writeTemplate(template, 'v2');
    let answer = '';
    const deadline = Date.now() + 15_000;
    while (answer !== 'v2' && Date.now() < deadline)
      answer = await (await pool.transform(new Response('x'))).text();
    expect(answer).toBe('v2');
  });

  it('fails no transform when the watched file is deleted under load, and takes it back when it returns', async () => {
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
    });
    const template = makeTemplate('v1');
    const { pool } = await startRenderer(template);
    const traffic = sendContinuously(pool, 16);
    try {
      expect(await waitFor(() => traffic.answers.every((seen) => seen.length >= 3), 15_000)).toBe(true);
      rmSync(template);
      const reported = await waitFor(
        () => logged.some((line) => /after a change to .*; the old processes keep serving/.test(line)),
        20_000,
      );
      expect(reported, logged.join('\n')).toBe(true);
      const before = traffic.answers.map((seen) => seen.length);
      expect(
        await waitFor(() =>
          traffic.answers.every((seen, index) => seen.length >= (before[index] as number) + 3),
        ),
      ).toBe(true);
      writeTemplate(template, 'v2');
      expect(await waitFor(() => traffic.last().every((answer) => answer === 'v2'), 20_000)).toBe(true);
    } finally {
      await traffic.stop();
    }
    expect(traffic.answers.flat().filter((answer) => answer.startsWith('error'))).toEqual([]);
    expect(pool.stats().failed).toBe(0);
  }, 120_000);

  it('keeps reloading after the watched file is deleted and written again at once, as a checkout does', async () => {
    const template = makeTemplate('v1');
    const { pool } = await startRenderer(template);
    expect(await (await pool.transform(new Response('x'))).text()).toBe('v1');
    /** Transforms one after another until one answers `text`; false if none has after 20 s. */
    const reaches = async (text: string) => {
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline)
        if ((await (await pool.transform(new Response('x'))).text()) === text) return true;
      return false;
    };
    const seen: string[] = [];
    for (const text of ['v2', 'v3']) {
      rmSync(template);
      writeTemplate(template, text);
      if (await reaches(text)) seen.push(text);
    }
    // And a plain save after them.
    writeTemplate(template, 'v4');
    if (await reaches('v4')) seen.push('v4');
    expect(seen).toEqual(['v2', 'v3', 'v4']);
    expect(pool.stats().failed).toBe(0);
  }, 120_000);

  it('fails no transform when an edit makes the new process write junk before its first answer', async () => {
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
    });
    const template = makeTemplate('v1');
    const { pool } = await startRenderer(template);
    const traffic = sendContinuously(pool);
    expect(await waitFor(() => traffic.answers.every((seen) => seen.length >= 3), 10_000)).toBe(true);
    // Loaded at start, so the junk comes before any answer, often with a transform already on board. Written
    // to the descriptor itself: serveTransform sends process.stdout.write from user code to stderr.
    writeFileSync(
      template,
      'import { writeSync } from "node:fs";\nwriteSync(1, "junk\\r\\n\\r\\n");\nexport default "v2";\n',
    );
    const refused = await waitFor(
      () => logged.some((line) => line.includes('broke the protocol before its first answer after a change')),
      15_000,
    );
    expect(refused, logged.join('\n')).toBe(true);
    const before = traffic.answers.map((seen) => seen.length);
    expect(
      await waitFor(() =>
        traffic.answers.every((seen, index) => seen.length >= (before[index] as number) + 3),
      ),
    ).toBe(true);
    writeTemplate(template, 'v3');
    const fixed = await waitFor(() => traffic.last().every((answer) => answer === 'v3'), 15_000);
    await traffic.stop();
    expect(fixed).toBe(true);
    for (const seen of traffic.answers) expect(runsOf(seen)).toEqual(['v1', 'v3']);
    expect(pool.stats().failed).toBe(0);
  });

  it('never counts a trial killed by startTimeout toward the start backoff', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const events: ProcessEvent[] = [];
    const template = makeTemplate('v1');
    // 3 s is over ten times a renderer's start here; the old process answers first, then only trials hang.
    const { pool } = await startRenderer(template, {
      processes: 1,
      startTimeout: 3000,
      onEvent: (event) => events.push(event),
    });
    expect(await (await pool.transform(new Response('x'))).text()).toBe('v1');
    // Two failed trials in a row: counted, they would be two start failures, and the second one a backoff.
    for (const round of [1, 2]) {
      const started = pool.stats().started;
      writeFileSync(
        template,
        `setInterval(() => {}, 60_000);\nawait new Promise(() => {});\nexport default "hung ${round}";\n`,
      );
      expect(await waitFor(() => pool.stats().started > started, 10_000)).toBe(true);
      // It goes to the trial, which never answers: killed by startTimeout (a timeout is never retried).
      await expect(pool.transform(new Response('x'))).rejects.toMatchObject({
        code: 'ERR_TRANSFORM_TIMEOUT',
      });
      expect(await (await pool.transform(new Response('x'))).text()).toBe('v1');
      // Its exit event may come after its transform failed.
      const killed = () => events.filter((event) => event.type === 'exit' && event.reason === 'timeout');
      expect(await waitFor(() => killed().length === round, 10_000), JSON.stringify(events)).toBe(true);
    }
    expect(events.filter((event) => event.type === 'backoff')).toEqual([]);
    expect(pool.stats()).toMatchObject({ backoffs: 0, backingOff: false });
  });

  it('serves the next transform with the edit when no traffic came during it', async () => {
    const template = makeTemplate('v1');
    const { pool } = await startRenderer(template);
    expect(await (await pool.transform(new Response('x'))).text()).toBe('v1');
    const started = pool.stats().started;
    const old = pool.stats().processes.map((entry) => entry.pid);
    writeTemplate(template, 'v2');
    // The trial process starts; the next transform goes to it.
    expect(await waitFor(() => pool.stats().started > started, 10_000)).toBe(true);
    // Listed after the old ones, as a process that takes work and has not answered yet.
    const listed = pool.stats().processes;
    expect(listed.slice(0, 2).map((entry) => entry.pid)).toEqual(old);
    expect(listed[2]).toMatchObject({ state: 'starting', transforms: 0, onBoard: 0 });
    expect(await (await pool.transform(new Response('x'))).text()).toBe('v2');
    expect(await (await pool.transform(new Response('x'))).text()).toBe('v2');
  });

  it('refuses a watch that is no path', () => {
    for (const watch of [5, [], [''], ['a', 1]]) {
      expect(() => createTransformPool({ command: 'cat', watch } as unknown as PoolOptions)).toThrow(
        /^Expected `watch` to be a path or a non-empty list of paths, got /,
      );
    }
  });

  it('stops watching on close(): a script with a watching pool ends by itself', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'watch-'));
    folders.push(folder);
    const child = execFile(process.execPath, [fixture('watch-parent.mjs'), folder]);
    let stdout = '';
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const ended = await waitFor(() => child.exitCode !== null, 20_000);
    if (!ended) child.kill('SIGKILL');
    expect(await exited).toBe(0);
    expect(stdout).toBe('watched\nclosed\n');
  });
});

describe('proxy --watch', () => {
  it('answers with the edited template once it is saved', async () => {
    const template = makeTemplate('v1');
    const upstream = await serveFetch(
      () => new Response('page', { headers: { 'content-type': 'text/html' } }),
      {
        port: 0,
        host: '127.0.0.1',
      },
    );
    const proxy = await startProxy([
      '--upstream',
      upstream.url,
      '--processes',
      '1',
      '--watch',
      template,
      '--',
      process.execPath,
      fixture('watch-render.mjs'),
      template,
    ]);
    try {
      const get = async () => (await fetch(proxy.url)).text();
      expect(await get()).toBe('v1');
      // The proxy says it listens before the watcher's first scan is done: save until the change is seen.
      const answers: string[] = [];
      const deadline = Date.now() + 15_000;
      while (answers.at(-1) !== 'v2' && Date.now() < deadline) {
        writeTemplate(template, 'v2');
        await sleep(200);
        answers.push(await get());
      }
      expect(answers.at(-1), proxy.stderr()).toBe('v2');
      expect(await get()).toBe('v2');
    } finally {
      await kill(proxy);
      await upstream.close({ timeout: 0 });
    }
  });

  it('exits 2 when a watched path does not exist', async () => {
    const cli = runCli(['proxy', '--upstream', 'http://127.0.0.1:1', '--watch', 'no-such-dir', '--', 'cat']);
    expect(await cli.exited).toBe(2);
    expect(cli.stderr()).toBe(
      'subprocess-transform: Expected --watch to be a file or folder, got "no-such-dir": it does not exist\n',
    );
  });
});
