import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolStats } from '../../src/index.ts';

// The demo (`npm start`) as users run it: a real server process, real HTTP, real transform processes.
const root = fileURLToPath(new URL('../..', import.meta.url));
const execFileAsync = promisify(execFile);
const LISTENING = /^subprocess-transform demo listening on (http:\/\/127\.0\.0\.1:\d+)$/m;
const START_TIMEOUT_MS = 20_000;
const GROUP_EXIT_MS = 2000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

let demo: ChildProcess;
let exited: Promise<Exit>;
let baseUrl: string;
let stdout = '';
let stderr = '';
/** The transform processes seen while the demo ran, so afterAll can kill them if a test failed. */
let transformPids: number[] = [];

function startDemo(): Promise<string> {
  demo = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((resolve) => demo.once('exit', (code, signal) => resolve({ code, signal })));
  demo.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`The demo did not start:\n${stdout}${stderr}`)),
      START_TIMEOUT_MS,
    );
    demo.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = LISTENING.exec(stdout);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`The demo exited (${code ?? signal}) before listening:\n${stdout}${stderr}`));
    });
  });
}

/** Pids of the demo's children that run render.ts (tsx's esbuild service is a child too). */
function getTransformPids(parent: number): number[] {
  let lines: string;
  try {
    lines = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(parent)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when there is none
  }
  return lines
    .split('\n')
    .filter((line) => line.includes('render.ts'))
    .map((line) => Number.parseInt(line, 10));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Poll until `pid` (negative: a process group) is gone; false if it is still there after `timeout` ms. */
async function waitForExit(pid: number, timeout: number): Promise<boolean> {
  const deadline = Date.now() + timeout;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/** The headless Chromium on PATH: required, never skipped (CI installs it, as it does jq). */
function findChromium(): string {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // Not this one.
    }
  }
  throw new Error('This test needs headless Chromium on PATH: apt-get install chromium');
}

/** The page's DOM as headless Chromium has it after 3 s of (virtual) time: its scripts have run. */
async function dumpDom(url: string): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'pool-page-chromium-'));
  try {
    const { stdout: dom } = await execFileAsync(
      findChromium(),
      [
        ...['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', `--user-data-dir=${profile}`],
        ...['--virtual-time-budget=3000', '--dump-dom', url],
      ],
      { encoding: 'utf8', timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
    );
    return dom;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

async function get(path: string, init?: RequestInit): Promise<Response> {
  return fetch(new URL(path, baseUrl), init);
}

describe('the demo server', () => {
  beforeAll(async () => {
    baseUrl = await startDemo();
  });

  afterAll(async () => {
    // Only does anything when a test failed before the demo was stopped.
    if (demo.exitCode === null && demo.signalCode === null) {
      demo.kill('SIGKILL');
      await exited;
    }
    for (const pid of transformPids) {
      try {
        process.kill(-pid, 'SIGKILL'); // each transform leads its own process group
      } catch {
        // Already gone.
      }
    }
  });

  it('prints the address it listens on, once', () => {
    expect(stdout.trim().split('\n')).toEqual([expect.stringMatching(LISTENING)]);
    expect(baseUrl).not.toMatch(/:0$/);
  });

  it('serves the raw JSON under /api, untransformed', async () => {
    const response = await get('/api/planets');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('x-rendered-by')).toBeNull();
    const planets = (await response.json()) as unknown[];
    expect(planets).toHaveLength(8);
    expect(planets[0]).toEqual({
      name: 'Mercury',
      radiusKm: 2440,
      massEarths: 0.055,
      orbitDays: 88,
      moons: 0,
      page: '/planets/mercury',
    });
  });

  it('renders /planets as an HTML table', async () => {
    const response = await get('/planets');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('x-rendered-by')).toBe('subprocess-transform');
    const html = await response.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<title>Planets</title>');
    expect(html).toContain('<table>');
    expect(html).toContain('<td>Jupiter</td>');
    expect(html).toContain('<td class="num">69,911</td>');
    expect(html.match(/<tr>/g)).toHaveLength(9); // a header row and eight planets
  });

  it('renders /planets/earth as a definition list', async () => {
    const response = await get('/planets/earth');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-rendered-by')).toBe('subprocess-transform');
    const html = await response.text();
    expect(html).toContain('<h1>Earth</h1>');
    expect(html).toContain('<dl>');
    expect(html).toContain('<dt>Radius km</dt><dd>6,371</dd>');
    expect(html).not.toContain('<table>');
  });

  it('renders an unknown planet as a 404 page', async () => {
    const response = await get('/planets/pluto');
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await response.text();
    expect(html).toContain('<p class="status">404 Not Found</p>');
    expect(html).toContain('<dd>No such planet</dd>');
  });

  it('escapes values taken from the request path', async () => {
    const html = await (await get('/planets/%3Cscript%3E')).text();
    expect(html).not.toContain('<script>');
    expect(html).toContain('&#60;script&#62;');
  });

  it('leaves HEAD requests untransformed', async () => {
    const response = await get('/planets', { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('serves the HTML index untransformed, linking to the pages and the raw JSON', async () => {
    const response = await get('/');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-rendered-by')).toBeNull();
    const html = await response.text();
    expect(html).toContain('<h1>subprocess-transform demo</h1>');
    expect(html).toContain('href="/planets"');
    expect(html).toContain('href="/api/planets"');
  });

  it('links the /pool page from the home page, and serves it as a page that refreshes itself', async () => {
    expect(await (await get('/')).text()).toContain('href="/pool"');
    const response = await get('/pool');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('x-rendered-by')).toBeNull(); // HTML already: not sent through the pool
    const html = await response.text();
    expect(html).toContain('<title>Transform pool</title>');
    expect(html).toContain("fetch('/pool'");
    expect(html).toMatch(/setInterval\(refresh, \d+\)/);
    for (const id of ['status', 'processes', 'count', 'latency', 'counters']) {
      expect(html).toContain(`id="${id}"`);
    }
  });

  it('reports each render.ts process at /api/pool: pid, state, transforms, and latency percentiles', async () => {
    const pids = getTransformPids(demo.pid as number).sort();
    const before = (await (await get('/api/pool')).json()) as PoolStats;
    expect(before.processes.map((entry) => entry.pid).sort()).toEqual(pids);
    for (const entry of before.processes) expect(['starting', 'idle']).toContain(entry.state);

    // Eight renders at once: both processes take some, and every one is counted against one of them.
    const pages = await Promise.all(Array.from({ length: 8 }, () => get('/planets').then((r) => r.text())));
    expect(pages.every((page) => page.includes('<table>'))).toBe(true);
    const after = (await (await get('/api/pool')).json()) as PoolStats;
    expect(after.processes.map((entry) => entry.pid).sort()).toEqual(pids);
    const total = (stats: PoolStats): number =>
      stats.processes.reduce((sum, entry) => sum + entry.transforms, 0);
    expect(total(after) - total(before)).toBe(8);
    expect(after.ok - before.ok).toBe(8);
    expect(after.processes.every((entry) => entry.state === 'idle')).toBe(true);
    expect(after.latency.count).toBeGreaterThanOrEqual(8);
    expect(after.latency.p50).toBeGreaterThan(0);
    expect(after.latency.p99).toBeGreaterThanOrEqual(after.latency.p50);
  });

  it('renders the pool into /pool on the server: the first paint shows every process and the counters', async () => {
    // The renders above are done: every process is idle and its count stays put between the two requests.
    const stats = (await (await get('/api/pool')).json()) as PoolStats;
    const response = await get('/pool');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const html = await response.text();
    const tbody = /<tbody id="processes">([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? '';
    const rows = [
      ...tbody.matchAll(
        /<tr><td class="num">(\d+)<\/td><td><span class="state (\w+)" data-state="\2">\2<\/span><\/td><td class="num">(\d+)<\/td><td class="num">\d+ s<\/td><\/tr>/g,
      ),
    ].map(([, pid, state, transforms]) => ({ pid: Number(pid), state, transforms: Number(transforms) }));
    expect(rows).toEqual(stats.processes.map(({ pid, state, transforms }) => ({ pid, state, transforms })));
    expect(rows).toHaveLength(2);
    expect(rows.every((row) => row.state === 'idle' && row.transforms > 0)).toBe(true);
    expect(html).not.toContain('Loading');
    expect(html).toMatch(/<span id="status">Updated \d\d:\d\d:\d\d UTC<\/span>/);
    expect(html).toContain(`<span id="count">${stats.latency.count}</span>`);
    expect(html).toMatch(/<dl id="latency"><dt>p50<\/dt><dd>\d+(\.\d+)?<\/dd>/);
    for (const name of ['alive', 'started', 'ok', 'failed', 'aborted', 'backoffs'] as const) {
      expect(html).toContain(`<dt>${name}</dt><dd>${stats[name]}</dd>`);
    }
    expect(html).toContain('<dt>backingOff</dt><dd>no</dd>');
    expect(html).toContain('<ul id="failures"><li>none</li></ul>');
  });

  it('replaces both processes on POST /api/pool/reload, with new pids', async () => {
    const before = (await (await get('/api/pool')).json()) as PoolStats;
    const response = await get('/api/pool/reload', { method: 'POST' });
    expect(response.status).toBe(200);
    const after = (await response.json()) as PoolStats;
    const old = new Set(before.processes.map((entry) => entry.pid));
    expect(after.processes).toHaveLength(2);
    expect(after.processes.filter((entry) => old.has(entry.pid))).toEqual([]);
    expect(after.restarted - before.restarted).toBe(2);
    // The new processes render as the old ones did.
    expect(await (await get('/planets/earth')).text()).toContain('<h1>Earth</h1>');
  });

  it('shows, in headless Chromium, true states after a reload, the operator counters and a live chart', async () => {
    // The reload above left two fresh processes; the render after it went to one of them.
    const stats = (await (await get('/api/pool')).json()) as PoolStats;
    expect(stats.processes.map((entry) => entry.state).sort()).toEqual(['idle', 'starting']);
    // The server samples once a second: wait for two samples and for one taken after the last render, so every
    // render so far is in the chart (a property, not a time).
    const samples = async (): Promise<number> =>
      Number(/data-samples="(\d+)"/.exec(await (await get('/pool')).text())?.[1] ?? 0);
    const wanted = Math.max(2, (await samples()) + 1);
    const deadline = Date.now() + 30_000;
    while ((await samples()) < wanted && Date.now() < deadline)
      await new Promise((wake) => setTimeout(wake, 200));
    expect(await samples()).toBeGreaterThanOrEqual(wanted);
    const dom = await dumpDom(`${baseUrl}/pool`);
    // The page's own script ran in the browser and swapped in fresh parts from /pool at least once.
    expect(dom).toMatch(/<html lang="en" data-refreshed="[1-9]\d*">/);
    const labels = [...dom.matchAll(/<span class="state (\w+)" data-state="\1">([\w ]+)<\/span>/g)].map(
      ([, state, label]) => [state, label],
    );
    expect(labels.sort()).toEqual([
      ['idle', 'idle'],
      ['starting', 'not used yet'],
    ]);
    for (const name of ['aborted', 'backoffs', 'backingOff', 'failed', 'timedOut']) {
      expect(dom).toContain(`<dt>${name}</dt>`);
    }
    expect(dom).toContain('<ul id="failures"><li>none</li></ul>');
    const chart = /<svg id="chart"[\s\S]*?<\/svg>/.exec(dom)?.[0] ?? '';
    const series = (name: string): string[] =>
      (new RegExp(`<polyline class="${name}" fill="none" points="([^"]*)"`).exec(chart)?.[1] ?? '').split(
        ' ',
      );
    expect(series('rate').length).toBeGreaterThanOrEqual(2);
    expect(series('p95').length).toBe(series('rate').length);
    // Renders happened in the last minutes: the busiest second drew above zero.
    expect(chart).toMatch(/req\/s \(max (?!0\.0\))[\d.]+\)/);
    expect(chart).toMatch(/p95 ms \(max (?!0\.0\))[\d.]+\)/);
  });

  it('exits with code 0 on SIGTERM and leaves no transform process behind', async () => {
    transformPids = getTransformPids(demo.pid as number);
    expect(transformPids).toHaveLength(2);
    demo.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
    // close() waited for every transform process: none may be left once the demo has exited.
    for (const pid of transformPids) expect(isAlive(pid), `transform ${pid} is still running`).toBe(false);
    // Anything a transform started itself (such as the esbuild helper tsx may run) shares its process group
    // and can take a few milliseconds more to quit once its parent is gone: give it a moment, not forever.
    for (const pid of transformPids) {
      expect(await waitForExit(-pid, GROUP_EXIT_MS), `process group ${pid} is still running`).toBe(true);
    }
  });
});
