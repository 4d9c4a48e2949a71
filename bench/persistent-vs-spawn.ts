// Persistent transform processes against one process per response (what mod_ext_filter does), and against a
// raw pipe round trip to a warm `cat` (the floor). Same machine, same run: the ratios are what matter.
import { execa } from 'execa';
import { createTransformPool } from '../src/index.ts';
import { round, setting, writeSection } from './common.ts';
import { pipelineOption } from './pipeline.ts';

const body = JSON.stringify({ items: Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item ${i}` })) });

async function time(runs: number, run: () => Promise<void>): Promise<number> {
  for (let i = 0; i < Math.min(200, runs); i++) await run();
  const start = performance.now();
  for (let i = 0; i < runs; i++) await run();
  return ((performance.now() - start) / runs) * 1000;
}

async function rawPipe(runs: number): Promise<number> {
  const cat = execa('cat', { buffer: false, reject: false });
  const message = Buffer.from(body);
  const result = await time(runs, async () => {
    let received = 0;
    await new Promise<void>((resolve) => {
      const onData = (chunk: Buffer): void => {
        received += chunk.byteLength;
        if (received < message.byteLength) return;
        cat.stdout?.off('data', onData);
        resolve();
      };
      cat.stdout?.on('data', onData);
      cat.stdin?.write(message);
    });
  });
  cat.stdin?.end();
  await cat;
  return result;
}

async function persistent(runs: number): Promise<number> {
  const pool = createTransformPool({ command: 'cat', processes: 1, ...pipeline });
  const result = await time(runs, async () => {
    await (
      await pool.transform(new Response(body, { headers: { 'content-type': 'application/json' } }))
    ).text();
  });
  await pool.close();
  return result;
}

async function processPerResponse(runs: number): Promise<number> {
  return time(runs, async () => {
    await execa('cat', { input: body });
  });
}

const pipeline = await pipelineOption(createTransformPool);
const runs = setting('RUNS', 2000, 50);
const spawns = Math.max(setting('SPAWNS', 100, 5), runs / 10);
const raw = await rawPipe(runs);
const pooled = await persistent(runs);
const spawned = await processPerResponse(spawns);

console.log(`\n1 KiB JSON through cat, ${runs} sequential transforms (process per response: ${spawns})\n`);
console.table({
  'raw pipe round trip': { 'µs per response': raw.toFixed(0), ratio: '1.00x' },
  'subprocess-transform (persistent)': {
    'µs per response': pooled.toFixed(0),
    ratio: `${(pooled / raw).toFixed(2)}x raw`,
  },
  'process per response': {
    'µs per response': spawned.toFixed(0),
    ratio: `${(spawned / raw).toFixed(2)}x raw`,
  },
});
console.log(`persistent is ${(spawned / pooled).toFixed(1)}x faster than a process per response`);
await writeSection('persistentVsSpawn', {
  runs,
  spawns,
  rawUs: round(raw),
  persistentUs: round(pooled),
  processPerResponseUs: round(spawned),
  persistentVsRaw: round(pooled / raw, 2),
  spawnVsPersistent: round(spawned / pooled, 2),
});
