// Row 4 of issue #8: MB/s of a 256 MiB streamed body through the library's `cat` transform against a raw
// Node -> cat -> Node pipe, alternating in one run. The ratio is what matters (target: at least 0.7x raw).
// Runtime-neutral: bench/runtimes.ts runs it under Bun and Deno too. SIZE_MIB, RUNS.
import { execa } from 'execa';
import { createTransformPool } from '../src/index.ts';
import { median, report, round, setting } from './common.ts';

const SIZE_MIB = setting('SIZE_MIB', 256, 4);
const SIZE = SIZE_MIB * 1024 * 1024;
const CHUNK = new Uint8Array(64 * 1024).fill(120);

function body(): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      controller.enqueue(CHUNK);
      sent += CHUNK.byteLength;
      if (sent >= SIZE) controller.close();
    },
  });
}

async function raw(): Promise<number> {
  const cat = execa('cat', { buffer: false, reject: false });
  const start = performance.now();
  const reading = (async () => {
    let received = 0;
    for await (const chunk of cat.stdout as AsyncIterable<Uint8Array>) received += chunk.byteLength;
    return received;
  })();
  for (let sent = 0; sent < SIZE; sent += CHUNK.byteLength) {
    if (!cat.stdin?.write(CHUNK)) await new Promise((resolve) => cat.stdin?.once('drain', resolve));
  }
  cat.stdin?.end();
  await reading;
  return SIZE / 1e6 / ((performance.now() - start) / 1000);
}

async function library(): Promise<number> {
  const pool = createTransformPool({ command: 'cat', processes: 1 });
  await (await pool.transform(new Response('warm'))).text();
  const start = performance.now();
  const response = await pool.transform(new Response(body()));
  let received = 0;
  for await (const chunk of response.body as ReadableStream<Uint8Array>) received += chunk.byteLength;
  const rate = received / 1e6 / ((performance.now() - start) / 1000);
  await pool.close();
  return rate;
}

const runs = setting('RUNS', 3, 1);
const rawRates: number[] = [];
const libraryRates: number[] = [];
for (let i = 0; i < runs; i++) {
  rawRates.push(await raw());
  libraryRates.push(await library());
}
const rawRate = median(rawRates);
const libraryRate = median(libraryRates);
await report(
  'throughput',
  `${SIZE_MIB} MiB streamed through cat, median of ${runs} runs`,
  {
    'raw pipe': { 'MB/s': Math.round(rawRate), ratio: '1.00x', target: '' },
    'subprocess-transform': {
      'MB/s': Math.round(libraryRate),
      ratio: `${(libraryRate / rawRate).toFixed(2)}x raw`,
      target: '>= 0.7x',
    },
  },
  {
    sizeMiB: SIZE_MIB,
    runs,
    rawMBs: round(rawRate),
    libraryMBs: round(libraryRate),
    ratio: round(libraryRate / rawRate, 3),
    perRun: { raw: rawRates.map((v) => round(v)), library: libraryRates.map((v) => round(v)) },
  },
);
