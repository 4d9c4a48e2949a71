// `npm run soak [-- --seconds N]`: a bounded soak under HTTP load. Hono on @hono/node-server (bench/soak-server.ts,
// its own process) sends every page through a transform that misbehaves on the requests marked so by the client
// (bench/soak-transform.mjs: crashes, hangs, garbles, repeats an answer, ...), and a hostile client sends bursts
// of the same poison at once. A request marked ok is innocent and must get 200 with its own exact body; no
// request may ever get another's body; the server's RSS and open fds, measured with the pool at rest after the
// warm-up and at the end, must not grow past a bound; the pool must come back to rest; no message may be read
// more than twice (the transforms log each message they take up; a retry happens at most once).
// Exit 0: all held; 1: something failed (the tables say what); 2: the soak itself broke.
// BENCH_TINY=1: a few seconds, few clients (test/project/bench.test.ts runs it so); figures go to a temporary file.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { PoolStats } from '../src/index.ts';
import { median, round, TINY, writeSection } from './common.ts';
import {
  type Action,
  createPicker,
  FAULTS,
  type Fault,
  getJson,
  type Load,
  runLoad,
  Tally,
} from './soak-load.ts';

// Flags: --seconds of measured load after --warmup seconds; --clients innocent keep-alive clients; --fault-rate
// of their requests marked with one of --faults (comma-separated; '' for none); a hostile client's --burst
// requests with one poison every --burst-every seconds (either 0: no hostile client); the pool's --processes,
// --timeout and --start-timeout (ms); --seed of the action mix; the growth allowed after warm-up: --rss-bound
// MiB, --fd-bound.
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: TINY ? '2' : '60' },
    warmup: { type: 'string', default: TINY ? '1' : '10' },
    clients: { type: 'string', default: TINY ? '8' : '32' },
    'fault-rate': { type: 'string', default: '0.02' },
    burst: { type: 'string', default: '8' },
    'burst-every': { type: 'string', default: TINY ? '1' : '5' },
    faults: { type: 'string', default: FAULTS.join(',') },
    // The library's default on a 2-core machine: os.availableParallelism().
    processes: { type: 'string', default: '2' },
    timeout: { type: 'string', default: '3000' },
    'start-timeout': { type: 'string', default: '10000' },
    seed: { type: 'string', default: String(Date.now() % 1e9) },
    'rss-bound': { type: 'string', default: '32' },
    'fd-bound': { type: 'string', default: '0' },
  },
});

for (const [name, value] of Object.entries(args)) {
  if (name !== 'faults' && !(Number(value) >= 0))
    throw new RangeError(`Expected --${name} to be a number >= 0, got ${value}`);
}
const seconds = Number(args.seconds);
const warmup = Number(args.warmup);
const processes = Number(args.processes);
const timeout = Number(args.timeout);
const startTimeout = Number(args['start-timeout']);
const seed = Number(args.seed);
const rssBoundMiB = Number(args['rss-bound']);
const fdBound = Number(args['fd-bound']);
const faults = (args.faults === '' ? [] : args.faults.split(',')) as Fault[];
for (const fault of faults) if (!FAULTS.includes(fault)) throw new TypeError(`Unknown fault "${fault}"`);
// A client gives up on one answer after ten times the longest a transform may take: a request still waiting
// then is failed, not waited for, so the soak always ends.
const deadline = 10 * Math.max(timeout, startTimeout);

interface ServerStats {
  rss: number;
  heapUsed: number;
  fds: number;
  connections: number;
  pool: PoolStats;
  events: Record<string, number>;
}

const readLogDirectory = mkdtempSync(join(tmpdir(), 'soak-'));
/** Every message the transforms took up, one line each (bench/soak-transform.mjs). */
const readLog = join(readLogDirectory, 'read.log');

/** How many messages of each action the transforms read twice, and more than twice (a retry is at most once). */
function countRereads(tally: Tally): { twice: Map<Action, number>; more: number } {
  const reads = new Map<string, number>();
  let log = '';
  try {
    log = readFileSync(readLog, 'utf8');
  } catch {
    // No transform took up a message: nothing was read twice.
  }
  for (const line of log.split('\n')) if (line !== '') reads.set(line, (reads.get(line) ?? 0) + 1);
  const twice = new Map<Action, number>();
  let more = 0;
  for (const [body, n] of reads) {
    const action = tally.actionOf.get(body);
    if (action === undefined || n < 2) continue;
    twice.set(action, (twice.get(action) ?? 0) + 1);
    if (n > 2) more++;
  }
  return { twice, more };
}

/** What the server wrote to stderr (Node prints errors of bodies that failed mid-stream there), bounded. */
const serverStderr = { lines: 0, head: [] as string[] };

/** The server, started and ready; `stop()` ends its stdin (it closes its pool and exits) and waits for it. */
async function startServer(): Promise<{ port: number; stop: () => Promise<void> }> {
  const server = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      new URL('soak-server.ts', import.meta.url).pathname,
      JSON.stringify({ processes, timeout, startTimeout, readLog }),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  createInterface({ input: server.stderr }).on('line', (line) => {
    serverStderr.lines++;
    if (serverStderr.head.length < 20) serverStderr.head.push(line);
  });
  const exited = new Promise<void>((resolve) => server.once('close', () => resolve()));
  const first = await createInterface({ input: server.stdout })[Symbol.asyncIterator]().next();
  if (first.done) {
    await exited; // 'close': after its last stderr line, the reason.
    throw new Error(`The soak server exited before it listened:\n${serverStderr.head.join('\n')}`);
  }
  const { port } = JSON.parse(first.value as string) as { port: number };
  return {
    port,
    stop: async () => {
      server.stdin.end();
      const killer = setTimeout(() => server.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether the pool is at rest: every process alive and idle (or loaded and not yet given work), nothing queued. */
function isAtRest(stats: ServerStats): boolean {
  const { pool } = stats;
  return (
    pool.queued === 0 &&
    pool.processes.length === processes &&
    pool.processes.every((p) => p.state === 'idle' || p.state === 'starting') &&
    stats.connections <= 1
  );
}

/**
 * The server's figures once the pool is at rest (a hung process is killed within `startTimeout`), or after
 * 30 s (twice `startTimeout` if longer).
 */
async function measureAtRest(port: number): Promise<ServerStats & { atRest: boolean }> {
  const until = Date.now() + Math.max(30_000, 2 * startTimeout);
  await sleep(500);
  for (;;) {
    const stats = await getJson<ServerStats>(port, '/soak/stats', deadline);
    if (isAtRest(stats) || Date.now() > until) return { ...stats, atRest: isAtRest(stats) };
    await sleep(200);
  }
}

/** The pool's processes by state, as `idle 3, busy 1`. */
function describeStates(stats: ServerStats): string {
  const states = new Map<string, number>();
  for (const { state } of stats.pool.processes) states.set(state, (states.get(state) ?? 0) + 1);
  return [...states].map(([state, n]) => `${state} ${n}`).join(', ');
}

const MiB = 1024 * 1024;
const mib = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10;

async function main(): Promise<number> {
  const { port, stop } = await startServer();
  try {
    const start = await getJson<ServerStats>(port, '/soak/stats', deadline);
    const tally = new Tally();
    const load: Load = {
      port,
      clients: Number(args.clients),
      deadline,
      pick: createPicker(faults, Number(args['fault-rate']), seed),
      burst: { size: Number(args.burst), every: Number(args['burst-every']) * 1000 },
      tally,
    };
    await runLoad(load, Date.now() + warmup * 1000);
    const warm = await measureAtRest(port);

    // The measured run, sampling the server every 2 s for the peak.
    let peak = { rss: warm.rss, fds: warm.fds };
    let running = true;
    // A failure is kept for after the load, never left an unhandled rejection meanwhile.
    const sampling = (async () => {
      while (running) {
        await sleep(2000);
        if (!running) break;
        const sample = await getJson<ServerStats>(port, '/soak/stats', deadline);
        peak = { rss: Math.max(peak.rss, sample.rss), fds: Math.max(peak.fds, sample.fds) };
      }
    })().then(
      () => undefined,
      (error: unknown) => error,
    );
    const began = Date.now();
    const before = tally.count();
    await runLoad(load, began + seconds * 1000);
    const elapsed = (Date.now() - began) / 1000;
    running = false;
    const samplingError = await sampling;
    if (samplingError !== undefined) throw samplingError;
    const end = await measureAtRest(port);
    return await summarize({ tally, start, warm, peak, end, rate: (tally.count() - before) / elapsed });
  } finally {
    await stop();
  }
}

const isInnocent = (action: Action): boolean => action === 'ok';
const isFault = (action: Action): boolean => action !== 'ok';

async function summarize(run: {
  tally: Tally;
  start: ServerStats;
  warm: ServerStats & { atRest: boolean };
  peak: { rss: number; fds: number };
  end: ServerStats & { atRest: boolean };
  rate: number;
}): Promise<number> {
  const { tally, start, warm, peak, end } = run;
  const innocentOk = tally.count(isInnocent, 'ok');
  const innocent = tally.count(isInnocent);
  const crossDelivered = tally.count(undefined, 'cross-delivered');
  const summary = {
    requests: tally.count(),
    'req/s': Math.round(run.rate),
    innocent,
    'innocent ok': innocentOk,
    'innocent failed': innocent - innocentOk,
    'cross-delivered': crossDelivered,
    'faults sent': tally.count(isFault),
    restarts: end.pool.restarted,
  };
  const innocentFailures = Object.fromEntries(
    [...(tally.byAction.get('ok') ?? [])].filter(([outcome]) => outcome !== 'ok').sort(),
  );
  const innocentReasons = [...tally.innocentReasons].sort((a, b) => b[1] - a[1]);
  const rereads = countRereads(tally);
  const byAction = Object.fromEntries(
    [...tally.byAction].sort().map(([action, outcomes]) => [
      action,
      {
        sent: [...outcomes.values()].reduce((a, b) => a + b, 0),
        'p50 ms': round(median(tally.latencies.get(action) ?? [0]), 0),
        'max ms': round(
          (tally.latencies.get(action) ?? [0]).reduce((a, b) => Math.max(a, b)),
          0,
        ),
        'read twice': rereads.twice.get(action) ?? 0,
        outcomes: [...outcomes]
          .sort((a, b) => b[1] - a[1])
          .map(([outcome, n]) => `${outcome} ${n}`)
          .join(', '),
      },
    ]),
  );
  const resources = {
    start: {
      'RSS MiB': mib(start.rss),
      'heap MiB': mib(start.heapUsed),
      fds: start.fds,
      processes: describeStates(start),
      'at rest': '',
    },
    'after warm-up': {
      'RSS MiB': mib(warm.rss),
      'heap MiB': mib(warm.heapUsed),
      fds: warm.fds,
      processes: describeStates(warm),
      'at rest': warm.atRest ? 'yes' : 'NO',
    },
    peak: { 'RSS MiB': mib(peak.rss), 'heap MiB': '', fds: peak.fds, processes: '', 'at rest': '' },
    end: {
      'RSS MiB': mib(end.rss),
      'heap MiB': mib(end.heapUsed),
      fds: end.fds,
      processes: describeStates(end),
      'at rest': end.atRest ? 'yes' : 'NO',
    },
  };
  const rssGrowth = mib(end.rss - warm.rss);
  const fdGrowth = end.fds - warm.fds;
  const findings = [
    innocent - innocentOk > 0 && `${innocent - innocentOk} innocent requests failed`,
    crossDelivered > 0 && `${crossDelivered} answers reached the wrong request`,
    rssGrowth > rssBoundMiB && `RSS grew ${rssGrowth} MiB after warm-up (bound ${rssBoundMiB})`,
    fdGrowth > fdBound && `open fds grew by ${fdGrowth} after warm-up (bound ${fdBound})`,
    rereads.more > 0 && `${rereads.more} messages were read more than twice (a retry is at most once)`,
    !end.atRest && 'the pool was not at rest at the end',
  ].filter((finding): finding is string => typeof finding === 'string');

  console.log(
    `\nSoak: ${args.clients} clients for ${seconds} s after ${warmup} s of warm-up, fault rate ${args['fault-rate']}` +
      ` (${faults.join(', ')}), a burst of ${args.burst} poison requests every ${args['burst-every']} s,` +
      ` ${processes} processes, timeout ${timeout} ms, seed ${seed}\n`,
  );
  console.table({ soak: summary });
  console.log('\nInnocent requests that failed, by outcome and reason');
  for (const [reason, n] of innocentReasons) console.log(`  ${String(n).padStart(6)}  ${reason}`);
  console.log('\nEvery action: latency, messages the transforms read twice, outcomes');
  console.table(byAction);
  console.log('\nThe server process (pool at rest after warm-up and at the end)');
  console.table(resources);
  console.log('\nProcess events');
  console.table(end.events);
  for (const sample of tally.samples) console.log(`  ${sample}`);
  if (serverStderr.lines > 0) {
    console.log(`\nThe server wrote ${serverStderr.lines} lines to stderr, first:`);
    for (const line of serverStderr.head.slice(0, 3)) console.log(`  ${line}`);
  }
  console.log(findings.length === 0 ? '\nPASS' : `\nFAIL: ${findings.join('; ')}`);

  await writeSection('soak', {
    seconds,
    warmup,
    clients: Number(args.clients),
    faultRate: Number(args['fault-rate']),
    faults,
    burst: Number(args.burst),
    burstEvery: Number(args['burst-every']),
    processes,
    timeout,
    seed,
    ...Object.fromEntries(Object.entries(summary).map(([key, value]) => [camel(key), value])),
    innocentFailures,
    innocentReasons: Object.fromEntries(innocentReasons),
    byAction,
    rssMiB: { start: mib(start.rss), warm: mib(warm.rss), peak: mib(peak.rss), end: mib(end.rss) },
    heapMiB: { start: mib(start.heapUsed), warm: mib(warm.heapUsed), end: mib(end.heapUsed) },
    fds: { start: start.fds, warm: warm.fds, peak: peak.fds, end: end.fds },
    events: end.events,
    findings,
  });
  return findings.length === 0 ? 0 : 1;
}

/** 'innocent ok' → 'innocentOk', 'req/s' → 'reqPerS', for results.json. */
function camel(label: string): string {
  return label
    .replace('/', ' per ')
    .split(/[\s-]+/)
    .map((word, i) => (i === 0 ? word : word[0]?.toUpperCase() + word.slice(1)))
    .join('');
}

// Bounded whatever happens: past twice the planned time plus the deadlines, give up with exit 2.
const budget = (warmup + seconds) * 2000 + 4 * deadline + 60_000;
setTimeout(() => {
  console.error(`The soak did not finish within ${budget / 1000} s`);
  process.exit(2);
}, budget).unref();

try {
  process.exitCode = await main();
} catch (error) {
  console.error(error);
  process.exitCode = 2;
} finally {
  rmSync(readLogDirectory, { recursive: true, force: true });
}
