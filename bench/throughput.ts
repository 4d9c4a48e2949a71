// Row 4 of issue #8: MB/s of a 256 MiB streamed body through the library's `cat` transform against a raw
// Node -> cat -> Node pipe, alternating in one run. The ratio is what matters (target: at least 0.7x raw).
// Runtime-neutral: bench/runtimes.ts runs it under Bun and Deno too. SIZE_MIB, RUNS.
import { execa } from 'execa';
import { createTransformPool } from '../src/index.ts';
import { median, report, round, setting, streamThroughCat, streamThroughPool } from './common.ts';
import { pipelineOption } from './pipeline.ts';

const SIZE_MIB = setting('SIZE_MIB', 256, 4);
const SIZE = SIZE_MIB * 1024 * 1024;
const pipeline = await pipelineOption(createTransformPool);

async function raw(): Promise<number> {
  const cat = execa('cat', { buffer: false, reject: false });
  const start = performance.now();
  const received = await streamThroughCat(cat, SIZE);
  return received / 1e6 / ((performance.now() - start) / 1000);
}

async function library(): Promise<number> {
  const pool = createTransformPool({ command: 'cat', processes: 1, ...pipeline });
  await (await pool.transform(new Response('warm'))).text();
  const start = performance.now();
  const received = await streamThroughPool(pool, SIZE);
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
