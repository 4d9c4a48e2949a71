// Body filters (protocol: 'body'): 1 KiB through `tr a-z A-Z`, against a filter spawned by the server for each
// response (what mod_ext_filter does, and what the filter mode did before it ran in a pool: spawned here with
// node:child_process, the request's method and URL in its environment, no cap). The filter mode runs
// `processes` filter children (default: four per core), each running the filter on spares it started ahead; with
// the request context (the default: a spare is sh's prelude reading the method and URL, then exec'ing tr) and
// without it (requestContext: false: the spare is tr itself). p50 latency of sequential responses GAP_MS
// apart, then responses per second with 1, 8 and 32 loops back to back. REQUESTS, GAP_MS, BENCH_PROCESSES.
import { spawn } from 'node:child_process';
import { createTransformPool } from '../src/index.ts';
import { median, report, round, setting } from './common.ts';

const REQUESTS = setting('REQUESTS', 400, 20);
const GAP_MS = setting('GAP_MS', 20, 5);
const PROCESSES = process.env.BENCH_PROCESSES ? Number(process.env.BENCH_PROCESSES) : undefined;
const CONCURRENCY = [1, 8, 32];
const command = ['tr', 'a-z', 'A-Z'];
const body = 'abcdefghijklmnop'.repeat(64);
const expected = body.toUpperCase();
const request = new Request('http://bench.test/page?q=1');

type Filter = () => Promise<string>;

/** A filter spawned by this process for each response: the child's stdout read whole once it closes. */
const spawnPerResponse: Filter = () =>
  new Promise((resolve, reject) => {
    const child = spawn(command[0] as string, command.slice(1), {
      env: { ...process.env, TRANSFORM_REQUEST_METHOD: request.method, TRANSFORM_REQUEST_URL: request.url },
      detached: true,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`tr exited with ${code}`)),
    );
    child.stdin.end(body);
  });

// The floor of any design that starts filters ahead: a filter already waiting on stdin in this very process
// (no hop through a child), its replacement started after the response, off the clock. Sequential p50 only.
const PRELUDE =
  'IFS= read -r method; IFS= read -r url; export TRANSFORM_REQUEST_METHOD="$method" TRANSFORM_REQUEST_URL="$url"; exec "$@"';

/** The floors' waiting filters, killed at the end: each would hold this process open. */
const waiting = new Set<ReturnType<typeof spawn>>();

function startedAhead(context: boolean): Filter {
  const start = () =>
    context
      ? spawn('/bin/sh', ['-c', PRELUDE, 'sh', ...command], {
          detached: true,
          stdio: ['pipe', 'pipe', 'inherit'],
        })
      : spawn(command[0] as string, command.slice(1), { detached: true, stdio: ['pipe', 'pipe', 'inherit'] });
  const track = (child: ReturnType<typeof spawn>) => {
    waiting.add(child);
    child.once('close', () => waiting.delete(child));
    return child;
  };
  let next = track(start());
  return () =>
    new Promise((resolve, reject) => {
      const child = next;
      const chunks: Buffer[] = [];
      child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
      child.once('close', (code) => {
        setImmediate(() => {
          next = track(start());
        });
        if (code === 0) resolve(Buffer.concat(chunks).toString());
        else reject(new Error(`tr exited with ${code}`));
      });
      child.stdin?.end(context ? `${request.method}\n${request.url}\n${body}` : body);
    });
}

async function check(filter: Filter): Promise<void> {
  const output = await filter();
  if (output !== expected) throw new Error(`Unexpected output: ${output.slice(0, 40)}`);
}

/** Median ms from the call to the last output byte, REQUESTS sequential responses GAP_MS apart. */
async function latency(filter: Filter): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    await new Promise((resolve) => setTimeout(resolve, GAP_MS));
    const start = performance.now();
    await check(filter);
    times.push(performance.now() - start);
  }
  return median(times);
}

/** Responses per second, `loops` loops sharing REQUESTS responses back to back. */
async function rate(filter: Filter, loops: number): Promise<number> {
  let left = REQUESTS;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (left-- > 0) await check(filter);
    }),
  );
  return REQUESTS / ((performance.now() - start) / 1000);
}

const pool = createTransformPool({ command, protocol: 'body', processes: PROCESSES });
const pooled: Filter = async () => (await pool.transform(new Response(body), { request })).text();
const plainPool = createTransformPool({
  command,
  protocol: 'body',
  processes: PROCESSES,
  requestContext: false,
});
const plain: Filter = async () => (await plainPool.transform(new Response(body), { request })).text();
// Warm all three (a filter child starts its spares after its first filter ran), then alternate.
for (let i = 0; i < 8; i++) await Promise.all([check(spawnPerResponse), check(pooled), check(plain)]);
const floor = startedAhead(true);
const plainFloor = startedAhead(false);
await check(floor);
await check(plainFloor);
const spawnMs = [await latency(spawnPerResponse)];
const floorP50 = await latency(floor);
const plainFloorP50 = await latency(plainFloor);
const poolP50 = await latency(pooled);
spawnMs.push(await latency(spawnPerResponse));
const plainP50 = await latency(plain);
spawnMs.push(await latency(spawnPerResponse));
const spawnP50 = median(spawnMs);

const rates: Record<number, { spawn: number; pool: number; plain: number }> = {};
for (const loops of CONCURRENCY) {
  rates[loops] = {
    spawn: await rate(spawnPerResponse, loops),
    pool: await rate(pooled, loops),
    plain: await rate(plain, loops),
  };
}
const processes = pool.stats().alive;
await Promise.all([pool.close(), plainPool.close()]);
for (const child of waiting) child.kill('SIGKILL');

const ratio = (value: number, base: number): string => `${(value / base).toFixed(2)}x`;
const row = (p50: number, pick: (r: { spawn: number; pool: number; plain: number }) => number) => ({
  'p50 ms': p50.toFixed(2),
  'p50 ratio': ratio(p50, spawnP50),
  ...Object.fromEntries(
    CONCURRENCY.flatMap((loops) => {
      const figures = rates[loops] as { spawn: number; pool: number; plain: number };
      return [
        [`req/s ×${loops}`, pick(figures).toFixed(0)],
        [`ratio ×${loops}`, ratio(pick(figures), figures.spawn)],
      ];
    }),
  ),
});
const top = rates[32] as { spawn: number; pool: number; plain: number };
await report(
  'filter',
  `1 KiB through tr: p50 of ${REQUESTS} sequential responses ${GAP_MS} ms apart; req/s with 1, 8 and 32 loops back to back; ${processes} filter children`,
  {
    'spawn per response': row(spawnP50, (r) => r.spawn),
    'filter mode': row(poolP50, (r) => r.pool),
    'filter mode, requestContext: false': row(plainP50, (r) => r.plain),
    'floor: started ahead in this process': {
      'p50 ms': floorP50.toFixed(2),
      'p50 ratio': ratio(floorP50, spawnP50),
    },
    'floor, requestContext: false': {
      'p50 ms': plainFloorP50.toFixed(2),
      'p50 ratio': ratio(plainFloorP50, spawnP50),
    },
  },
  {
    requests: REQUESTS,
    gapMs: GAP_MS,
    processes,
    loadAverage: (await import('node:os')).loadavg().map((load) => round(load, 2)),
    spawnP50Ms: round(spawnP50, 2),
    sparesP50Ms: round(poolP50, 2),
    p50Ratio: round(poolP50 / spawnP50, 2),
    plainP50Ms: round(plainP50, 2),
    plainP50Ratio: round(plainP50 / spawnP50, 2),
    floorP50Ms: round(floorP50, 2),
    floorP50Ratio: round(floorP50 / spawnP50, 2),
    plainFloorP50Ms: round(plainFloorP50, 2),
    plainFloorP50Ratio: round(plainFloorP50 / spawnP50, 2),
    spawnReqPerSec: round(top.spawn),
    sparesReqPerSec: round(top.pool),
    reqPerSecRatio: round(top.pool / top.spawn, 2),
    byConcurrency: Object.fromEntries(
      CONCURRENCY.map((loops) => {
        const figures = rates[loops] as { spawn: number; pool: number; plain: number };
        return [
          loops,
          { spawn: round(figures.spawn), pool: round(figures.pool), plain: round(figures.plain) },
        ];
      }),
    ),
  },
);
