// What the benchmarks share: tiny mode, medians, rounds that alternate, the current runtime, and results.json.
// Runtime-neutral (Node, Bun, Deno): bench/runtimes.ts runs some benchmarks under all three.
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import type { ResultPromise } from 'execa';
import type { TransformPool } from '../src/index.ts';

/** BENCH_TINY=1: every benchmark with tiny sizes and counts, to check that the suite runs (test/project/bench.test.ts). */
export const TINY = process.env.BENCH_TINY === '1';

/** BENCH_EMIT=json: print one JSON line of figures instead of a table, and leave results.json alone. */
const EMIT_JSON = process.env.BENCH_EMIT === 'json';

/** A number from the environment, else the default for this mode. */
export function setting(name: string, normal: number, tiny: number): number {
  const value = process.env[name];
  return value === undefined || value === '' ? (TINY ? tiny : normal) : Number(value);
}

export const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

export const round = (value: number, digits = 1): number => Number(value.toFixed(digits));

/** Every round's figures, rounded, for results.json. */
export const roundEach = (perRound: Record<string, number[]>, digits = 1): Record<string, number[]> =>
  Object.fromEntries(
    Object.entries(perRound).map(([name, values]) => [name, values.map((v) => round(v, digits))]),
  );

/** Mean µs of one call, over `iterations` sequential calls. */
async function microseconds(iterations: number, run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < iterations; i++) await run();
  return ((performance.now() - start) / iterations) * 1000;
}

/**
 * Each run `iterations` times as warm-up, then `rounds` rounds of each, the order rotating every round so no run
 * always follows the same neighbour; the µs per call of every round, by name. `iterations` may differ by name.
 */
export async function alternate(
  runs: Record<string, () => Promise<unknown>>,
  rounds: number,
  iterations: number | Record<string, number>,
): Promise<Record<string, number[]>> {
  const entries = Object.entries(runs);
  const countOf = (name: string): number =>
    typeof iterations === 'number' ? iterations : (iterations[name] ?? 1);
  const perRound: Record<string, number[]> = Object.fromEntries(entries.map(([name]) => [name, []]));
  for (const [name, run] of entries) await microseconds(countOf(name), run);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < entries.length; i++) {
      const [name, run] = entries[(i + r) % entries.length] as [string, () => Promise<unknown>];
      perRound[name]?.push(await microseconds(countOf(name), run));
    }
  }
  return perRound;
}

/**
 * The system Node, the one that runs npm: the `node` dev dependency puts Node 24 first on the PATH of every npm
 * script, so under `npm run bench` a plain `node` is Node 24.
 */
export const SYSTEM_NODE = process.env.npm_node_execpath ?? process.execPath;

/** Node 24, the `node` dev dependency. */
export const NODE24 = new URL('../node_modules/node/bin/node', import.meta.url).pathname;

type RuntimeName = 'node' | 'bun' | 'deno';

const runtime: RuntimeName =
  typeof Deno !== 'undefined' ? 'deno' : process.versions.bun !== undefined ? 'bun' : 'node';

const runtimeVersion = (): string =>
  runtime === 'deno'
    ? Deno.version.deno
    : ((runtime === 'bun' ? process.versions.bun : process.version) ?? '');

/** The argv that runs a TypeScript file of bench/ under the current runtime (Node through tsx). */
export function tsCommand(file: string): string[] {
  const path = new URL(file, import.meta.url).pathname;
  if (runtime === 'deno') return [Deno.execPath(), 'run', '-A', path];
  if (runtime === 'bun') return [process.execPath, path];
  return [process.execPath, '--import', 'tsx', path];
}

/**
 * The library a benchmark's child runs: the source tree in BENCH_SRC, or else the built package (`dist/`, what
 * users run; `npm run bench` builds it). Under tsx every closure is named at run time, which costs a small
 * child about a fifth of its CPU.
 */
export function childLibrary(entry: 'child/index'): Promise<unknown> {
  const tree = process.env.BENCH_SRC ?? new URL('../dist', import.meta.url).pathname;
  return import(`${tree}/${entry}.${tree.endsWith('dist') ? 'js' : 'ts'}`);
}

/** BENCH_RESULTS names another file; tiny figures never land in the committed file. */
export const resultsPath = (): string =>
  process.env.BENCH_RESULTS ??
  (TINY
    ? join(os.tmpdir(), 'subprocess-transform-bench-tiny.json')
    : new URL('results.json', import.meta.url).pathname);

/**
 * Each benchmark adds its own section to results.json: read, merge, write (the benchmarks run one after another,
 * so nothing else writes the file meanwhile).
 */
export async function writeSection(key: string, section: unknown): Promise<void> {
  const path = resultsPath();
  let results: Record<string, unknown> = {};
  try {
    results = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch {
    // No file yet (or a broken one): start afresh.
  }
  results.date = new Date().toISOString();
  // Sections may be refreshed one at a time (`npm run bench -- http`): each keeps the date of its own run.
  results.dates = { ...(results.dates as Record<string, string> | undefined), [key]: results.date };
  results.machine = `${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}, ${os.platform()} ${os.release()}, Node ${process.version}`;
  results[key] = section;
  await writeFile(path, `${JSON.stringify(results, null, 2)}\n`);
}

/** Print the figures: one JSON line (BENCH_EMIT=json) or a title and a table, then add them to results.json. */
export async function report(
  key: string,
  title: string,
  table: Record<string, Record<string, unknown>>,
  section: Record<string, unknown>,
): Promise<void> {
  if (EMIT_JSON) {
    console.log(JSON.stringify({ runtime: `${runtime} ${runtimeVersion()}`, ...section }));
    return;
  }
  console.log(`\n${title}\n`);
  console.table(table);
  await writeSection(key, section);
}

const CHUNK = new Uint8Array(64 * 1024).fill(120);

/** A body of `size` bytes in 64 KiB chunks (one buffer, sent again and again), made as it is read. */
function pulledBody(size: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      controller.enqueue(CHUNK);
      sent += CHUNK.byteLength;
      if (sent >= size) controller.close();
    },
  });
}

/** `size` bytes through the pool's `cat` as a pulled body, read to the end: the bytes received. */
export async function streamThroughPool(pool: TransformPool, size: number): Promise<number> {
  const response = await pool.transform(new Response(pulledBody(size)));
  let received = 0;
  for await (const chunk of response.body as ReadableStream<Uint8Array>) received += chunk.byteLength;
  return received;
}

/** `size` bytes in 64 KiB writes to a started `cat` (waiting for drain), read back: the bytes received. */
export async function streamThroughCat(cat: ResultPromise, size: number): Promise<number> {
  const reading = (async () => {
    let received = 0;
    for await (const chunk of cat.stdout as AsyncIterable<Uint8Array>) received += chunk.byteLength;
    return received;
  })();
  for (let sent = 0; sent < size; sent += CHUNK.byteLength) {
    if (!cat.stdin?.write(CHUNK)) await new Promise((resolve) => cat.stdin?.once('drain', resolve));
  }
  cat.stdin?.end();
  return reading;
}
