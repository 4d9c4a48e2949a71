// One measurement of bench/memory.ts, in a fresh Node process so no other benchmark's garbage counts: the RSS
// before, and the peak while SIZE_MIB streams through `cat`, via the library (argv[2] 'library') or a raw pipe
// ('raw'). Prints one JSON line. Run with --expose-gc, so the baseline is taken after a collection.
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { createTransformPool } from '../src/index.ts';
import { streamThroughCat, streamThroughPool } from './common.ts';
import { pipelineOption } from './pipeline.ts';

const mode = process.argv[2] === 'raw' ? 'raw' : 'library';
const SIZE = Number(process.argv[3]) * 1024 * 1024;
const MiB = 1024 * 1024;

/** Linux's own peak RSS (VmHWM), which sees spikes between samples; undefined elsewhere. */
function highWaterMark(): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function streamThroughLibrary(): Promise<() => Promise<number>> {
  const pool = createTransformPool({
    command: 'cat',
    processes: 1,
    ...(await pipelineOption(createTransformPool)),
  });
  await (await pool.transform(new Response('warm'))).text();
  return async () => {
    const received = await streamThroughPool(pool, SIZE);
    await pool.close();
    return received;
  };
}

async function streamRaw(): Promise<() => Promise<number>> {
  // Started before the baseline, as the library's pool is.
  const cat = execa('cat', { buffer: false, reject: false });
  return () => streamThroughCat(cat, SIZE);
}

const stream = mode === 'raw' ? await streamRaw() : await streamThroughLibrary();
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
gc?.();
await sleep(100);
const baseline = process.memoryUsage.rss();
// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux): the mark then covers only the stream.
let hwmReset = false;
try {
  writeFileSync('/proc/self/clear_refs', '5');
  hwmReset = true;
} catch {}
let peak = baseline;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss());
}, 2);
const received = await stream();
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage.rss());
if (received < SIZE) throw new Error(`Received ${received} of ${SIZE} bytes`);
const hwm = hwmReset ? highWaterMark() : undefined;
console.log(
  JSON.stringify({
    mode,
    sizeMiB: SIZE / MiB,
    baselineMiB: baseline / MiB,
    peakMiB: peak / MiB,
    deltaMiB: (peak - baseline) / MiB,
    hwmDeltaMiB: hwm === undefined ? null : (hwm - baseline) / MiB,
  }),
);
