// Large bodies: MB/s of a 64 MiB streamed body through the library's `cat` transform against a raw pipe
// to `cat`. Same run, same machine: the ratio is what matters (future target: at least 0.7x raw).
import { execa } from 'execa';
import { createTransformPool } from '../src/index.ts';

const SIZE = 64 * 1024 * 1024;
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

const runs = Number(process.env.RUNS ?? 3);
const rawRates: number[] = [];
const libraryRates: number[] = [];
for (let i = 0; i < runs; i++) {
  rawRates.push(await raw());
  libraryRates.push(await library());
}
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
console.log(`\n64 MiB streamed through cat, median of ${runs} runs\n`);
console.table({
  'raw pipe': { 'MB/s': median(rawRates).toFixed(0), ratio: '1.00x' },
  'subprocess-transform': {
    'MB/s': median(libraryRates).toFixed(0),
    ratio: `${(median(libraryRates) / median(rawRates)).toFixed(2)}x raw`,
  },
});
