// Where the parent's CPU per transform goes: 1 KiB through `cat` (4 processes, 16 at a time), against the
// least any fetch-style implementation must do on the same machine. Rounds alternate in one run; medians.
//   bare:      the handler's Response, read by the caller (what a server does without a transform)
//   raw pipe:  bare, plus the message's bytes (made once, ahead) written to `cat` and read back
//   floor:     bare, plus reading the handler's body, one writev of head and body, parsing the answer's head
//              and building the Response the caller reads: the Web objects the API itself requires
//   pool:      bare, through createTransformPool (ids, timeouts, queue, backpressure, failure handling), with
//              its default pipeline for cat (one message per process: cat does not announce pipelining) or
//              BENCH_PIPELINE
//   raw pipe ×N, floor ×N: the same with N messages in flight per process (HTTP/1.1 pipelining: written back
//              to back, the messages of one turn in one writev, answered in order), PROCESSES × N callers; a
//              message joins a busy process only when none is idle. The least any pipelined implementation adds.
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { createTransformPool } from '../src/index.ts';
import { DEFAULTS } from '../src/shared/pool-options.ts';
import { writeBatch } from '../src/util/write.ts';
import { createResponse } from '../src/wire/body.ts';
import { type ResponseHead, ResponseParser } from '../src/wire/parser.ts';
import { concatBytes } from '../src/wire/serialize.ts';
import { median, report, round, setting } from './common.ts';
import { PIPELINE } from './pipeline.ts';

const PROCESSES = 4;
const CONCURRENCY = 16;
const PAGE = `<!doctype html><title>bench</title><p>${'x'.repeat(1024 - 42)}</p>`;
const makeResponse = (): Response => new Response(PAGE, { headers: { 'content-type': 'text/html' } });
const encoder = new TextEncoder();

type Answer = { head: ResponseHead; body: Uint8Array };

/** A warm `cat`, its answers parsed with the library's parser and handed out in the order the messages went. */
class Cat {
  /** Messages sent and not yet answered; counted by {@link Cats} as it hands the process out. */
  inFlight = 0;
  #head: ResponseHead | undefined;
  #body: Uint8Array[] = [];
  readonly #answers: ((answer: Answer) => void)[] = [];
  /** The chunks of the messages sent in this turn: one writev for all of them at the end of the turn. */
  #pending: Uint8Array[] = [];
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
      this.#answers.shift()?.(answer);
    },
  });
  readonly #child = spawn('cat', { stdio: ['pipe', 'pipe', 'inherit'] });
  readonly #stdin: Writable = this.#child.stdin;

  constructor() {
    this.#child.stdout.on('data', (chunk: Uint8Array) => this.#parser.push(chunk));
  }

  roundTrip(batch: Uint8Array[]): Promise<Answer> {
    const answer = new Promise<Answer>((resolve) => this.#answers.push(resolve));
    if (this.#pending.length === 0) process.nextTick(() => this.#flush());
    this.#pending.push(...batch);
    return answer;
  }

  #flush(): void {
    writeBatch(this.#stdin, this.#pending);
    this.#pending = [];
  }

  kill(): void {
    this.#child.kill();
  }
}

/** Hands out PROCESSES cats, up to `depth` messages in flight on each: an idle one first, else the least busy. */
class Cats {
  readonly #cats = Array.from({ length: PROCESSES }, () => new Cat());
  readonly #waiting: (() => void)[] = [];

  constructor(readonly depth: number) {}

  async use<T>(run: (cat: Cat) => Promise<T>): Promise<T> {
    let cat = this.#leastBusy();
    while (cat.inFlight >= this.depth) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
      cat = this.#leastBusy();
    }
    cat.inFlight++;
    try {
      return await run(cat);
    } finally {
      cat.inFlight--;
      this.#waiting.shift()?.();
    }
  }

  #leastBusy(): Cat {
    return this.#cats.reduce((least, cat) => (cat.inFlight < least.inFlight ? cat : least));
  }

  kill(): void {
    for (const cat of this.#cats) cat.kill();
  }
}

const head = (id: string, length: number): Uint8Array =>
  encoder.encode(
    `HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransform-Request-Id: ${id}\r\nContent-Length: ${length}\r\n\r\n`,
  );
const message = [head(crypto.randomUUID(), encoder.encode(PAGE).byteLength), encoder.encode(PAGE)];
const pool = createTransformPool({
  command: 'cat',
  processes: PROCESSES,
  ...(PIPELINE === undefined ? {} : { pipeline: PIPELINE }),
});
/**
 * Messages the pool lets one process hold: BENCH_PIPELINE, or the pool's default for `cat`, which never announces
 * `Transform-Pipeline`: one (DEFAULTS.pipeline is for children that announce it).
 */
const POOL_DEPTH = PIPELINE ?? 1;
const DEPTHS = [1, 4, 16];
const cats = new Map(DEPTHS.map((depth) => [depth, new Cats(depth)]));

/** bare, plus the message's bytes written to a cat and read back. */
const rawPipe = (depth: number) => async (): Promise<void> => {
  await makeResponse().text();
  await cats.get(depth)?.use((cat) => cat.roundTrip(message));
};

/** bare, plus what the API itself requires around the round trip; an answer out of order stops the benchmark. */
const floorOf = (depth: number) => async (): Promise<void> => {
  const response = makeResponse();
  const body = new Uint8Array(await response.arrayBuffer());
  const id = crypto.randomUUID();
  const answer = (await cats
    .get(depth)
    ?.use((cat) => cat.roundTrip([head(id, body.byteLength), body]))) as Answer;
  if (answer.head.context.get('id') !== id)
    throw new Error(`Answer out of order: ${answer.head.context.get('id')}`);
  await createResponse(answer.head, answer.body).text();
};

/** Each run, with the messages in flight per process and the callers it has (CONCURRENCY, or enough to fill). */
const runs: Record<string, { run: () => Promise<unknown>; depth: number; callers: number }> = {
  bare: { run: () => makeResponse().text(), depth: 0, callers: CONCURRENCY },
  'raw pipe': { run: rawPipe(1), depth: 1, callers: CONCURRENCY },
  floor: { run: floorOf(1), depth: 1, callers: CONCURRENCY },
  pool: {
    run: async () => (await pool.transform(makeResponse())).text(),
    depth: POOL_DEPTH,
    callers: CONCURRENCY,
  },
};
for (const depth of DEPTHS.slice(1)) {
  const callers = Math.max(CONCURRENCY, PROCESSES * depth);
  runs[`raw pipe ×${depth}`] = { run: rawPipe(depth), depth, callers };
  runs[`floor ×${depth}`] = { run: floorOf(depth), depth, callers };
}

/** Parent CPU (all threads) per call, `count` calls, `callers` at a time. */
async function cpuPer(count: number, { run, callers }: (typeof runs)[string]): Promise<number> {
  const start = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
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
    const [name, run] = entries[(i + round) % entries.length] as [string, (typeof runs)[string]];
    cpu[name]?.push(await cpuPer(COUNT, run));
  }
}
for (const each of cats.values()) each.kill();
await pool.close();

const bare = median(cpu.bare as number[]);
const floor = median(cpu.floor as number[]);
const table: Record<
  string,
  {
    'in flight per process': number | string;
    'µs per response': number;
    'added µs': number;
    'vs floor': string;
  }
> = {};
for (const [name, values] of Object.entries(cpu)) {
  const us = median(values);
  table[name] = {
    'in flight per process': runs[name]?.depth || '',
    'µs per response': round(us),
    'added µs': round(us - bare),
    'vs floor': name === 'bare' ? '' : `${((us - bare) / (floor - bare)).toFixed(2)}x`,
  };
}
await report(
  'floor',
  `Parent CPU per 1 KiB response through cat (${PROCESSES} processes, ${CONCURRENCY} at a time, or enough callers to fill ×N), median of ${ROUNDS} rounds: the pool against the least the API requires, one message per process at a time and pipelined; the pool holds ${POOL_DEPTH} per process (${PIPELINE === undefined ? `cat does not announce pipelining; a child that does would hold ${DEFAULTS.pipeline}` : 'BENCH_PIPELINE'})`,
  table,
  { rounds: ROUNDS, count: COUNT, table },
);
