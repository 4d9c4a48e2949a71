// Under HTTP load: Hono on @hono/node-server serving 1 KiB of HTML to 32 autocannon connections, bare and with
// each transform, rounds alternating in one run; medians as ratios to bare. Then the parent CPU a transform adds.
// Each transform runs with the benchmarks' pipeline setting and, beside it, one message per process
// (bench/pipeline.ts: rows named '... pipeline 1').
// ROUNDS, SECONDS, CPU_COUNT; BENCH_SOURCES='{"a": "/path/src", "b": "/other/src"}' compares source trees side by side.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { createTransformPool } from '../src/index.ts';
import { median, setting, TINY, writeSection } from './common.ts';
import { describePipeline, pipelineRows } from './pipeline.ts';

interface AutocannonResult {
  requests: { average: number };
  errors: number;
  non2xx: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string;
  connections: number;
  duration: number;
}) => Promise<AutocannonResult>;

const ROUNDS = setting('ROUNDS', 5, 1);
const SECONDS = setting('SECONDS', 3, 1);
const sources = process.env.BENCH_SOURCES ?? '{}';

async function startServers(): Promise<{ ports: Record<string, number>; stop: () => void }> {
  const server = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('http-server.ts', import.meta.url).pathname, sources],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [line] = await createInterface({ input: server.stdout })
    [Symbol.asyncIterator]()
    .next()
    .then((r) => [r.value as string]);
  return { ports: JSON.parse(line as string), stop: () => server.kill() };
}

async function load(port: number, duration: number): Promise<number> {
  const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 32, duration });
  if (result.errors > 0 || result.non2xx > 0)
    throw new Error(`Port ${port}: ${result.errors} errors, ${result.non2xx} non-2xx`);
  return result.requests.average;
}

const { ports, stop } = await startServers();
const targets = Object.keys(ports);
const rates: Record<string, number[]> = Object.fromEntries(targets.map((target) => [target, []]));
for (const target of targets) await load(ports[target] as number, 1);
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order so no target always follows the same neighbour.
  for (let i = 0; i < targets.length; i++) {
    const target = targets[(i + round) % targets.length] as string;
    rates[target]?.push(await load(ports[target] as number, SECONDS));
  }
}
stop();

const bare = median(rates.bare as number[]);
const sideCall = median(rates.sidecall as number[]);
const http: Record<string, { 'req/s': number; 'vs bare': string; 'vs side-call': string }> = {};
for (const target of targets) {
  const rate = median(rates[target] as number[]);
  http[target] = {
    'req/s': Math.round(rate),
    'vs bare': `${(rate / bare).toFixed(3)}x`,
    'vs side-call': `${(rate / sideCall).toFixed(2)}x`,
  };
}
console.log(
  `\nHono on @hono/node-server, 1 KiB HTML, 32 connections, median of ${ROUNDS} rounds of ${SECONDS} s\n`,
);
console.table(http);

// Parent CPU (all threads) per 1 KiB transform through cat at 16 concurrent, minus the bare handler's.
type CreatePool = typeof createTransformPool;
const PAGE = `<!doctype html><title>bench</title><p>${'x'.repeat(1024 - 42)}</p>`;
const makeResponse = (): Response => new Response(PAGE, { headers: { 'content-type': 'text/html' } });
async function cpuPer(count: number, run: () => Promise<void>): Promise<number> {
  const start = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next++ < count) await run();
    }),
  );
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}
const runs: Record<string, () => Promise<void>> = {
  bare: async () => void (await makeResponse().text()),
};
const pools: { close(): Promise<void> }[] = [];
const sourceTrees = Object.entries(JSON.parse(sources) as Record<string, string>);
for (const [name, src] of sourceTrees.length > 0 ? sourceTrees : [['src', '']]) {
  const create =
    src === '' ? createTransformPool : ((await import(`${src}/index.ts`)).createTransformPool as CreatePool);
  for (const [suffix, pipeline] of Object.entries(await pipelineRows(create, name))) {
    const pool = create({ command: 'cat', processes: 4, ...pipeline });
    pools.push(pool);
    runs[`cat:${name}${suffix}`] = async () => void (await (await pool.transform(makeResponse())).text());
  }
}
const CPU_COUNT = setting('CPU_COUNT', 5000, 100);
const cpu: Record<string, number[]> = {};
for (const [name, run] of Object.entries(runs)) {
  await cpuPer(TINY ? 100 : 1000, run);
  cpu[name] = [];
}
for (let round = 0; round < ROUNDS; round++) {
  const entries = Object.entries(runs);
  for (let i = 0; i < entries.length; i++) {
    const [name, run] = entries[(i + round) % entries.length] as [string, () => Promise<void>];
    cpu[name]?.push(await cpuPer(CPU_COUNT, run));
  }
}
for (const pool of pools) await pool.close();
const bareCpu = median(cpu.bare as number[]);
const parentCpu: Record<string, { 'µs per response': number; 'added µs': number }> = {};
for (const [name, values] of Object.entries(cpu)) {
  parentCpu[name] = {
    'µs per response': Number(median(values).toFixed(1)),
    'added µs': Number((median(values) - bareCpu).toFixed(1)),
  };
}
console.log('\nParent CPU per 1 KiB response through cat, 16 concurrent (all threads), median\n');
console.table(parentCpu);

await writeSection('http', {
  pipeline: await describePipeline(createTransformPool),
  rounds: ROUNDS,
  seconds: SECONDS,
  connections: 32,
  targets: http,
  perRound: rates,
});
await writeSection('parentCpu', parentCpu);
