import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMetricsHandler,
  createTransformPool,
  formatMetrics,
  type ProcessEvent,
  type TransformPool,
} from '../../src/index.ts';
import { StatsRecorder } from '../../src/shared/stats.ts';
import { kill, type Running, runCli, startProxy } from '../_cli.ts';
import { nodeFixture, sleep, track, waitFor } from '../_utils.ts';

const P = 'subprocess_transform';
const FAILURE_CODES = [
  'ERR_TRANSFORM_SPAWN',
  'ERR_TRANSFORM_EXIT',
  'ERR_TRANSFORM_PROTOCOL',
  'ERR_TRANSFORM_FAILED',
  'ERR_TRANSFORM_TIMEOUT',
  'ERR_TRANSFORM_QUEUE_FULL',
  'ERR_TRANSFORM_CLOSED',
];
const BOUNDS = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10'];

/** A sample's key: its name, then its labels sorted, as `name{a="x",b="y"}`. */
function key(name: string, labels: Record<string, string> = {}): string {
  const pairs = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return `${name}{${pairs.map(([label, value]) => `${label}=${JSON.stringify(value)}`).join(',')}}`;
}

/** Label pairs of a sample line, unescaped by the format's rules. */
function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [, name, value] of (text ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\\n]|\\[\\"n])*)"/g)) {
    labels[name as string] = (value as string).replace(/\\([\\"n])/g, (_, escaped: string) =>
      escaped === 'n' ? '\n' : escaped,
    );
  }
  return labels;
}

/**
 * Read the exposition line by line by the 0.0.4 grammar into numbers by sample key, checking the order of
 * HELP, TYPE and samples; then check that an independent parser reads the same numbers. (That parser drops
 * the labels of histograms, so it is compared on histograms of one series only.)
 */
function parseExposition(text: string): Map<string, number> {
  expect(text.endsWith('\n')).toBe(true);
  const typed = new Map<string, string>();
  const values = new Map<string, number>();
  const series = new Map<string, number>();
  let family = '';
  for (const line of text.slice(0, -1).split('\n')) {
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (comment !== null) {
      const [, kind, name, rest] = comment as unknown as [string, string, string, string];
      if (kind === 'TYPE') {
        expect(typed.has(name), `one TYPE line for ${name}`).toBe(false);
        expect(['counter', 'gauge', 'histogram']).toContain(rest);
        if (rest === 'counter') expect(name).toMatch(/_total$/);
        typed.set(name, rest);
      }
      family = name;
      continue;
    }
    const sample =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_]\w*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\S+)$/.exec(line);
    expect(sample, `a sample line: ${line}`).not.toBeNull();
    const [, name, labels, value] = sample as unknown as [string, string, string | undefined, string];
    // Each sample follows its own family's TYPE: a histogram's parts carry their suffix.
    const suffix = typed.get(family) === 'histogram' ? /^(_bucket|_sum|_count)$/ : /^$/;
    expect(name.startsWith(family) && suffix.test(name.slice(family.length)), `${name} under ${family}`).toBe(
      true,
    );
    const sampleKey = key(name, parseLabels(labels));
    expect(values.has(sampleKey), `one sample ${sampleKey}`).toBe(false);
    values.set(sampleKey, value === '+Inf' ? Number.POSITIVE_INFINITY : Number(value));
    if (name.endsWith('_count')) series.set(family, (series.get(family) ?? 0) + 1);
  }
  for (const parsed of parsePrometheusTextFormat(text)) {
    expect(parsed.type).toBe(typed.get(parsed.name)?.toUpperCase());
    for (const metric of parsed.metrics) {
      if (parsed.type !== 'HISTOGRAM') {
        expect(values.get(key(parsed.name, metric.labels))).toBe(Number(metric.value));
        continue;
      }
      if (series.get(parsed.name) !== 1) continue;
      for (const [le, count] of Object.entries(metric.buckets ?? {})) {
        expect(values.get(key(`${parsed.name}_bucket`, { le }))).toBe(Number(count));
      }
      expect(values.get(key(`${parsed.name}_sum`))).toBe(Number(metric.sum));
      expect(values.get(key(`${parsed.name}_count`))).toBe(Number(metric.count));
    }
  }
  return values;
}

/** The counters every test checks, by their short name; `failed` by code. */
function expectCounters(
  values: Map<string, number>,
  expected: Record<string, number>,
  failed: Record<string, number>,
  labels: Record<string, string> = {},
): void {
  for (const [name, value] of Object.entries(expected)) {
    expect(values.get(key(`${P}_${name}`, labels)), name).toBe(value);
  }
  for (const code of FAILURE_CODES) {
    const sample = key(`${P}_transforms_failed_total`, { ...labels, code });
    expect(values.get(sample), code).toBe(failed[code] ?? 0);
  }
}

/** The histogram's buckets, cumulative and ending in `+Inf` = `_count`. */
function expectHistogram(values: Map<string, number>, count: number, labels: Record<string, string> = {}) {
  const name = `${P}_transform_duration_seconds`;
  const buckets = [...BOUNDS, '+Inf'].map((le) => values.get(key(`${name}_bucket`, { ...labels, le })));
  for (const [index, bucket] of buckets.entries()) {
    expect(bucket).toBeTypeOf('number');
    if (index > 0) expect(bucket).toBeGreaterThanOrEqual(buckets[index - 1] as number);
  }
  expect(buckets.at(-1)).toBe(count);
  expect(values.get(key(`${name}_count`, labels))).toBe(count);
}

async function transformText(pool: TransformPool, body: string, signal?: AbortSignal): Promise<string> {
  return (await pool.transform(new Response(body), { signal })).text();
}

describe('formatMetrics', () => {
  it('renders counters by outcome and code, process counters, gauges and a histogram that a parser reads back', async () => {
    const pool = track(createTransformPool({ command: nodeFixture('misbehaves.mjs'), processes: 1 }));
    expect(await transformText(pool, 'one')).toBe('one');
    expect(await transformText(pool, 'two')).toBe('two');
    await expect(transformText(pool, 'error')).rejects.toMatchObject({ code: 'ERR_TRANSFORM_FAILED' });
    await expect(transformText(pool, 'x', AbortSignal.abort())).rejects.toMatchObject({
      code: 'ERR_TRANSFORM_ABORTED',
    });
    // The process had answered: an exit, not a failure at start, so no backoff.
    await expect(transformText(pool, 'crash')).rejects.toMatchObject({ code: 'ERR_TRANSFORM_EXIT' });
    // Its replacement is up, and waits for work without having answered: starting, not idle.
    expect(await waitFor(() => pool.stats().starting === 1, 50_000)).toBe(true);

    const stats = pool.stats();
    const values = parseExposition(formatMetrics(pool));
    expectCounters(
      values,
      {
        transforms_ok_total: 2,
        transforms_aborted_total: 1,
        transforms_timed_out_total: 0,
        process_starts_total: 2,
        process_exits_total: 1,
        process_restarts_total: 1,
        backoffs_total: 0,
        backoff_active: 0,
        processes_alive: 1,
        processes_busy: 0,
        // The replacement has not answered yet: starting only.
        processes_idle: 0,
        processes_starting: 1,
        queue_depth: 0,
      },
      { ERR_TRANSFORM_FAILED: 1, ERR_TRANSFORM_EXIT: 1 },
    );
    // Transformed heads handed out: the two answers only.
    expectHistogram(values, 2);
    expect(stats.latencyHistogram.count).toBe(2);
    expect(values.get(key(`${P}_transform_duration_seconds_sum`))).toBeCloseTo(
      stats.latencyHistogram.sum / 1000,
      9,
    );
  });

  it('labels each pool of an object with its name, escaped, and takes a prefix', async () => {
    const name = 'render "main"\\\nv2';
    const render = track(createTransformPool({ command: ['cat'], processes: 1 }));
    const filter = track(
      createTransformPool({ command: ['tr', 'a-z', 'A-Z'], protocol: 'body', processes: 1 }),
    );
    expect(await transformText(render, 'a')).toBe('a');
    expect(await transformText(filter, 'b')).toBe('B');
    expect(await transformText(filter, 'c')).toBe('C');

    const text = formatMetrics({ [name]: render, filter }, { prefix: 'app_transforms' });
    expect(text).toContain(`{pool="render \\"main\\"\\\\\\nv2"} `);
    const values = parseExposition(text.replaceAll('app_transforms_', `${P}_`));
    expectCounters(values, { transforms_ok_total: 1, process_starts_total: 1 }, {}, { pool: name });
    // A body-filter pool's processes are its filter children: one here, however many filters it ran.
    expectCounters(values, { transforms_ok_total: 2, process_starts_total: 1 }, {}, { pool: 'filter' });
    expectHistogram(values, 1, { pool: name });
    expectHistogram(values, 2, { pool: 'filter' });
  });

  it('counts each latency in the first bucket whose bound is at or above it, cumulatively', () => {
    const recorder = new StatsRecorder();
    for (const ms of [0.5, 5, 5.01, 10, 99, 10_000, 10_001]) recorder.delivered(ms);
    const histogram = recorder.getLatencyHistogram();
    expect(histogram.bounds).toEqual([5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000]);
    expect(histogram.counts).toEqual([2, 4, 4, 4, 5, 5, 5, 5, 5, 5, 6]);
    expect(histogram).toMatchObject({ count: 7, sum: 0.5 + 5 + 5.01 + 10 + 99 + 10_000 + 10_001 });
  });

  it('reports start backoff as it happens: a gauge while held back, a counter per backoff', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'metrics-backoff-'));
    try {
      const events: ProcessEvent[] = [];
      const pool = track(
        createTransformPool({
          command: nodeFixture('crash-at-start.mjs'),
          env: { COUNTER_FILE: join(directory, 'starts') },
          processes: 1,
          onEvent: (event) => events.push(event),
        }),
      );
      expect(await waitFor(() => pool.stats().backingOff, 50_000)).toBe(true);
      // One tick: the events, the stats and the text describe the same moment.
      const backoffs = events.filter((event) => event.type === 'backoff').length;
      const values = parseExposition(formatMetrics(pool));
      expect(backoffs).toBeGreaterThanOrEqual(1);
      expectCounters(values, { backoffs_total: backoffs, backoff_active: 1 }, {});
      await pool.close({ timeout: 0 });
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('refuses what is not a pool and a prefix that is not a metric name', () => {
    const pool = track(createTransformPool({ command: ['cat'], processes: 1 }));
    expect(() => formatMetrics({ command: 'cat' } as never)).toThrow(
      new TypeError('Expected "command" to be a transform pool, got string'),
    );
    expect(() => formatMetrics(null as never)).toThrow(
      new TypeError('Expected a transform pool or an object of them by name, got null'),
    );
    expect(() => formatMetrics(pool, { prefix: 'my-app' })).toThrow(
      new TypeError('Expected `prefix` to be a metric name such as "my_app", got "my-app"'),
    );
    expect(() => createMetricsHandler(pool, { prefix: '1st' })).toThrow(TypeError);
  });
});

describe('createMetricsHandler', () => {
  it('answers GET with the exposition and its content type, HEAD without a body, other methods 405', async () => {
    const pool = track(createTransformPool({ command: ['cat'], processes: 1 }));
    expect(await transformText(pool, 'a')).toBe('a');
    const metrics = createMetricsHandler(pool);

    const response = metrics(new Request('http://localhost/metrics'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    expect(text).toBe(formatMetrics(pool));
    expectCounters(parseExposition(text), { transforms_ok_total: 1 }, {});

    const head = metrics(new Request('http://localhost/metrics', { method: 'HEAD' }));
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(head.body).toBeNull();

    const post = metrics(new Request('http://localhost/metrics', { method: 'POST' }));
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('subprocess-transform proxy --metrics', () => {
  // A real upstream whose JSON body is the request's path: the transform (misbehaves.mjs) reads it as orders.
  let upstream: Server;
  let upstreamUrl: string;
  let proxy: (Running & { url: string }) | undefined;

  beforeAll(async () => {
    upstream = createServer((request, response) => {
      const body = (request.url ?? '/').slice(1);
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      response.end(body);
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await kill(proxy);
    upstream.closeAllConnections();
    upstream.close();
  });

  async function scrape(url: string): Promise<Map<string, number>> {
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    return parseExposition(await response.text());
  }

  /** Scrape until `check` holds (50 s at most: the suite runs on busy cores); returns the last scrape. */
  async function scrapeUntil(
    url: string,
    check: (values: Map<string, number>) => boolean,
  ): Promise<Map<string, number>> {
    const deadline = Date.now() + 50_000;
    for (;;) {
      const values = await scrape(url);
      if (check(values) || Date.now() > deadline) return values;
      await sleep(20);
    }
  }

  it('serves the pool of the proxy at /metrics on its own port, with exact counts after ok, failed and aborted requests', async () => {
    proxy = await startProxy([
      '--upstream',
      upstreamUrl,
      '--processes',
      '1',
      '--metrics',
      '0',
      // No timeout: only the abandoned answer's drain bound (1 s of silence) ends the hanging process.
      '--timeout',
      '0',
      '--',
      ...nodeFixture('misbehaves.mjs'),
    ]);
    // Its own line, right after the listening one: it may come in the next read of the pipe.
    const METRICS_LINE = /^subprocess-transform metrics on (http:\/\/\S+)$/m;
    const stdout = (proxy as Running).stdout;
    expect(await waitFor(() => METRICS_LINE.test(stdout()), 15_000)).toBe(true);
    const line = METRICS_LINE.exec(stdout());
    expect(line).not.toBeNull();
    const metricsUrl = (line as RegExpExecArray)[1] as string;
    expect(new URL(metricsUrl).pathname).toBe('/metrics');
    expect(new URL(metricsUrl).port).not.toBe(new URL(proxy.url).port);

    const ok = await fetch(`${proxy.url}/hello`);
    expect([ok.status, await ok.text()]).toEqual([200, 'hello']);
    const failed = await fetch(`${proxy.url}/error`);
    expect(failed.status).toBe(502);
    await failed.text();

    // The client leaves while the transform works on its response: an abort, never a failure.
    const client = new AbortController();
    const hanging = fetch(`${proxy.url}/hang`, { signal: client.signal }).catch((error: unknown) => error);
    const busy = await scrapeUntil(metricsUrl, (values) => values.get(key(`${P}_processes_busy`)) === 1);
    expect(busy.get(key(`${P}_processes_busy`))).toBe(1);
    client.abort();
    expect(await hanging).toMatchObject({ name: 'AbortError' });
    // The process that hangs retires, still working, and a new one takes its place; the hung one is killed
    // once its abandoned answer has been silent past the drain bound, so wait for its exit: the counts then hold.
    const values = await scrapeUntil(
      metricsUrl,
      (values) =>
        values.get(key(`${P}_transforms_aborted_total`)) === 1 &&
        values.get(key(`${P}_process_exits_total`)) === 1 &&
        values.get(key(`${P}_processes_starting`)) === 1,
    );
    expectCounters(
      values,
      {
        transforms_ok_total: 1,
        transforms_aborted_total: 1,
        transforms_timed_out_total: 0,
        process_starts_total: 2,
        process_exits_total: 1,
        process_restarts_total: 1,
        backoffs_total: 0,
        backoff_active: 0,
        // The abandoned one gone, and its replacement starting (not idle too: it has not answered).
        processes_alive: 1,
        processes_busy: 0,
        processes_idle: 0,
        processes_starting: 1,
        queue_depth: 0,
      },
      { ERR_TRANSFORM_FAILED: 1 },
    );
    // Only the answer that went out transformed was measured.
    expectHistogram(values, 1);

    const elsewhere = await fetch(new URL('/other', metricsUrl));
    expect(elsewhere.status).toBe(404);
    await elsewhere.text();
    // The proxied port does not serve the metrics: /metrics there goes upstream like any path.
    const proxied = await fetch(`${proxy.url}/metrics`);
    expect([proxied.status, await proxied.text()]).toEqual([200, 'metrics']);
  });

  it('binds the metrics to loopback whatever --host is, unless --metrics-host says otherwise', async () => {
    const METRICS_LINE = /^subprocess-transform metrics on (http:\/\/\S+)$/m;
    const metricsOf = async (args: string[]) => {
      const running = await startProxy(['--upstream', upstreamUrl, '--processes', '1', ...args, '--', 'cat']);
      try {
        expect(await waitFor(() => METRICS_LINE.test(running.stdout()))).toBe(true);
        const url = new URL((METRICS_LINE.exec(running.stdout()) as RegExpExecArray)[1] as string);
        // Reached where it says it listens.
        expect((await fetch(url)).status).toBe(200);
        return { proxy: new URL(running.url).hostname, metrics: url.hostname };
      } finally {
        await kill(running);
      }
    };
    // The listening addresses as the sockets report them.
    expect(await metricsOf(['--host', '0.0.0.0', '--metrics', '0'])).toEqual({
      proxy: '0.0.0.0',
      metrics: '127.0.0.1',
    });
    expect(await metricsOf(['--metrics', '0', '--metrics-host', '0.0.0.0'])).toEqual({
      proxy: '127.0.0.1',
      metrics: '0.0.0.0',
    });
    const alone = runCli(['proxy', '--upstream', upstreamUrl, '--metrics-host', '0.0.0.0', '--', 'cat']);
    expect(await alone.exited).toBe(2);
    expect(alone.stderr()).toBe(
      'subprocess-transform: Expected --metrics PORT with --metrics-host: it says where the metrics listen\n',
    );
  });

  it('documents --metrics in --help, and refuses the proxy port or a bad number', async () => {
    const help = runCli(['--help']);
    await help.exited;
    expect(help.stdout()).toMatch(
      /^ {2}--metrics PORT {8}Serve the pool's counters, gauges and latency histogram/m,
    );
    expect(help.stdout()).toMatch(/^ {2}--metrics-host HOST {3}Address the metrics listen on/m);

    const same = runCli([
      'proxy',
      '--upstream',
      upstreamUrl,
      '--port',
      '9400',
      '--metrics',
      '9400',
      '--',
      'cat',
    ]);
    expect(await same.exited).toBe(2);
    expect(same.stderr()).toBe(
      'subprocess-transform: Expected --metrics to be another port than --port, got 9400 for both\n',
    );
    const bad = runCli(['proxy', '--upstream', upstreamUrl, '--metrics', 'x', '--', 'cat']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toBe(
      'subprocess-transform: Expected --metrics to be an integer from 0 to 65535, got "x"\n',
    );
  });
});
