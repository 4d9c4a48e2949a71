// Body filters (protocol: 'body'): 1 KiB through `tr a-z A-Z`, a filter spawned when its response arrives (the
// pool before spares: its own spawn path, run-filter.ts, called directly) against the pool, whose responses
// meet filters started ahead (sh's prelude reading the request's method and URL, then exec'ing the filter; or
// with requestContext: false the filter itself). p50 latency of sequential responses with a short gap between them (as from a
// client at a modest rate: the gap is when spares are started again), then responses per second with
// CONCURRENCY loops back to back, where both pay a spawn per response in the parent. REQUESTS, GAP_MS.

import { runFilter } from '../src/filter/run-filter.ts';
import { createTransformPool } from '../src/index.ts';
import { ProcessEventSink } from '../src/shared/events.ts';
import { resolveOptions } from '../src/shared/pool-options.ts';
import { GroupWatchdog } from '../src/shared/watchdog.ts';
import { median, report, round, setting } from './common.ts';

const REQUESTS = setting('REQUESTS', 400, 20);
const GAP_MS = setting('GAP_MS', 50, 50);
const CONCURRENCY = setting('CONCURRENCY', 4, 2);
const command = ['tr', 'a-z', 'A-Z'];
const body = 'abcdefghijklmnop'.repeat(64);
const expected = body.toUpperCase();

type Filter = () => Promise<string>;

function spawnPerResponse(): { filter: Filter; close: () => void } {
  const options = resolveOptions({ command, protocol: 'body' });
  const watchdog = GroupWatchdog.start();
  const settings = {
    options,
    outputType: undefined,
    events: new ProcessEventSink(options.onEvent),
    closed: new AbortController().signal,
    watchdog,
  };
  const filter: Filter = async () => (await runFilter(new Response(body), {}, settings, () => {})).text();
  return { filter, close: () => watchdog.close() };
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

/** Responses per second, CONCURRENCY loops sharing REQUESTS responses back to back. */
async function rate(filter: Filter): Promise<number> {
  let left = REQUESTS;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) await check(filter);
    }),
  );
  return REQUESTS / ((performance.now() - start) / 1000);
}

const today = spawnPerResponse();
const pool = createTransformPool({ command, protocol: 'body', processes: CONCURRENCY });
const pooled: Filter = async () => (await pool.transform(new Response(body))).text();
// Without the request's method and URL in its environment, the spare is the filter itself, not sh's prelude.
const plainPool = createTransformPool({
  command,
  protocol: 'body',
  processes: CONCURRENCY,
  requestContext: false,
});
const plain: Filter = async () => (await plainPool.transform(new Response(body))).text();
// Warm both (the pool starts its spares after its first filter ran), then alternate: spawn, spares, spawn.
await check(today.filter);
await check(pooled);
await check(plain);
const spawnMs = [await latency(today.filter)];
const sparesP50 = await latency(pooled);
spawnMs.push(await latency(today.filter));
const plainP50 = await latency(plain);
spawnMs.push(await latency(today.filter));
const spawnRate = await rate(today.filter);
const sparesRate = await rate(pooled);
const plainRate = await rate(plain);
await Promise.all([pool.close(), plainPool.close()]);
today.close();

const spawnP50 = median(spawnMs);
await report(
  'filter',
  `1 KiB through tr, body protocol: p50 of ${REQUESTS} sequential responses ${GAP_MS} ms apart; req/s with ${CONCURRENCY} loops back to back`,
  {
    'spawn per response (before)': {
      'p50 ms': spawnP50.toFixed(2),
      'req/s': spawnRate.toFixed(0),
      ratio: '1.00x',
    },
    'filters started ahead': {
      'p50 ms': sparesP50.toFixed(2),
      'req/s': sparesRate.toFixed(0),
      ratio: `${(sparesP50 / spawnP50).toFixed(2)}x p50, ${(sparesRate / spawnRate).toFixed(2)}x req/s`,
    },
    'started ahead, requestContext: false': {
      'p50 ms': plainP50.toFixed(2),
      'req/s': plainRate.toFixed(0),
      ratio: `${(plainP50 / spawnP50).toFixed(2)}x p50, ${(plainRate / spawnRate).toFixed(2)}x req/s`,
    },
  },
  {
    requests: REQUESTS,
    gapMs: GAP_MS,
    concurrency: CONCURRENCY,
    spawnP50Ms: round(spawnP50, 2),
    sparesP50Ms: round(sparesP50, 2),
    p50Ratio: round(sparesP50 / spawnP50, 2),
    spawnReqPerSec: round(spawnRate),
    sparesReqPerSec: round(sparesRate),
    reqPerSecRatio: round(sparesRate / spawnRate, 2),
    plainP50Ms: round(plainP50, 2),
    plainReqPerSec: round(plainRate),
  },
);
