// Where the parent's CPU per transform goes: 1 KiB through `cat` (4 processes, 16 at a time), against the
// least any fetch-style implementation must do on the same machine. Rounds alternate in one run; medians.
//   bare:      the handler's Response, read by the caller (what a server does without a transform)
//   raw pipe:  bare, plus the message's bytes (made once, ahead) written to `cat` and read back
//   floor:     bare, plus reading the handler's body, one writev of head and body, parsing the answer's head
//              and building the Response the caller reads: the Web objects the API itself requires
//   pool:      bare, through createTransformPool (ids, timeouts, queue, backpressure, failure handling)
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { createTransformPool } from '../src/index.ts';
import { writeBatch } from '../src/io/write.ts';
import { createResponse } from '../src/wire/body.ts';
import { type ResponseHead, ResponseParser } from '../src/wire/parser.ts';
import { concatBytes } from '../src/wire/serialize.ts';
import { median, report, round, setting } from './common.ts';

const PROCESSES = 4;
const CONCURRENCY = 16;
const PAGE = `<!doctype html><title>bench</title><p>${'x'.repeat(1024 - 42)}</p>`;
const makeResponse = (): Response => new Response(PAGE, { headers: { 'content-type': 'text/html' } });
const encoder = new TextEncoder();

/** A warm `cat` that answers one message at a time, its answers parsed with the library's parser. */
class Cat {
  readonly stdin: Writable;
  #head: ResponseHead | undefined;
  #body: Uint8Array[] = [];
  #resolve: ((answer: { head: ResponseHead; body: Uint8Array }) => void) | undefined;
  readonly #parser = new ResponseParser({
    onHead: (head) => {
      this.#head = head;
    },
    onBody: (chunk) => {
      this.#body.push(chunk);
    },
    onMessageEnd: () => {
      const answer = { head: this.#head as ResponseHead, body: concatBytes(this.#body) };
      this.#body = [];
      this.#resolve?.(answer);
    },
  });
  readonly #child = spawn('cat', { stdio: ['pipe', 'pipe', 'inherit'] });

  constructor() {
    this.stdin = this.#child.stdin;
    this.#child.stdout.on('data', (chunk: Uint8Array) => this.#parser.push(chunk));
  }

  roundTrip(batch: Uint8Array[]): Promise<{ head: ResponseHead; body: Uint8Array }> {
    const answer = new Promise<{ head: ResponseHead; body: Uint8Array }>((resolve) => {
      this.#resolve = resolve;
    });
    writeBatch(this.stdin, batch);
    return answer;
  }

  kill(): void {
    this.#child.kill();
  }
}

/** Hands each caller a Cat of its own for one round trip: one message at a time per process. */
class Cats {
  readonly #idle = Array.from({ length: PROCESSES }, () => new Cat());
  readonly #all = [...this.#idle];
  readonly #waiting: ((cat: Cat) => void)[] = [];

  async use<T>(run: (cat: Cat) => Promise<T>): Promise<T> {
    const cat = this.#idle.pop() ?? (await new Promise<Cat>((resolve) => this.#waiting.push(resolve)));
    try {
      return await run(cat);
    } finally {
      const next = this.#waiting.shift();
      if (next) next(cat);
      else this.#idle.push(cat);
    }
  }

  kill(): void {
    for (const cat of this.#all) cat.kill();
  }
}

const head = (id: string, length: number): Uint8Array =>
  encoder.encode(
    `HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransform-Request-Id: ${id}\r\nContent-Length: ${length}\r\n\r\n`,
  );
const cats = new Cats();
const message = [head(crypto.randomUUID(), encoder.encode(PAGE).byteLength), encoder.encode(PAGE)];
const pool = createTransformPool({ command: 'cat', processes: PROCESSES });

const runs: Record<string, () => Promise<unknown>> = {
  bare: () => makeResponse().text(),
  'raw pipe': async () => {
    await makeResponse().text();
    await cats.use((cat) => cat.roundTrip(message));
  },
  floor: async () => {
    const response = makeResponse();
    const body = new Uint8Array(await response.arrayBuffer());
    const answer = await cats.use((cat) => cat.roundTrip([head(crypto.randomUUID(), body.byteLength), body]));
    await createResponse(answer.head, answer.body).text();
  },
  pool: async () => (await pool.transform(makeResponse())).text(),
};

/** Parent CPU (all threads) per call, `count` calls, CONCURRENCY at a time. */
async function cpuPer(count: number, run: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < count) await run();
    }),
  );
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

const ROUNDS = setting('ROUNDS', 5, 1);
const COUNT = setting('FLOOR_COUNT', 10_000, 200);
const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(runs).map((name) => [name, []]));
for (const run of Object.values(runs)) await cpuPer(Math.min(COUNT, 2000), run);
const entries = Object.entries(runs);
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < entries.length; i++) {
    const [name, run] = entries[(i + round) % entries.length] as [string, () => Promise<unknown>];
    cpu[name]?.push(await cpuPer(COUNT, run));
  }
}
cats.kill();
await pool.close();

const bare = median(cpu.bare as number[]);
const floor = median(cpu.floor as number[]);
const table: Record<string, { 'µs per response': number; 'added µs': number; 'vs floor': string }> = {};
for (const [name, values] of Object.entries(cpu)) {
  const us = median(values);
  table[name] = {
    'µs per response': round(us),
    'added µs': round(us - bare),
    'vs floor': name === 'bare' ? '' : `${((us - bare) / (floor - bare)).toFixed(2)}x`,
  };
}
await report(
  'floor',
  `Parent CPU per 1 KiB response through cat (${PROCESSES} processes, ${CONCURRENCY} at a time), median of ${ROUNDS} rounds: the pool against the least the API requires`,
  table,
  { rounds: ROUNDS, count: COUNT, table },
);
