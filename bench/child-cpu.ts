// Child CPU per small transform: the identity child (identity-child.ts) answering 1 KiB HTML messages written
// straight to its stdin, one at a time (write one, read its whole answer, then the next), or PIPELINE=N at a
// time (N messages in one write, then their N answers), CPU read from /proc/<pid>/stat (utime + stime, all
// threads). Source trees run side by side, one child each, rounds alternating, medians and ratios to the first
// tree. Linux only.
// BENCH_SOURCES='{"base": "/path/src", "src": "/other/src"}' (default: this tree; the value "raw" runs the floor
// instead: a Node child that writes back each read as it came, no parsing), ROUNDS, MESSAGES per round,
// BODY_BYTES, PIPELINE, CHILD (text-child.ts reads the body); PROFILE_DIR writes each child's --cpu-prof there;
// CHILD_FLAGS adds node flags (--perf-basic-prof).
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ResponseParser } from '../src/wire/parser.ts';
import { concatBytes, encodeResponse } from '../src/wire/serialize.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const MESSAGES = Number(process.env.MESSAGES ?? 20_000);
const WARMUP = Number(process.env.WARMUP ?? 5_000);
const BODY_BYTES = Number(process.env.BODY_BYTES ?? 1024);
/** Messages written back to back in one write before their answers are awaited, as a pipelining parent does. */
const PIPELINE = Number(process.env.PIPELINE ?? 1);
const PROFILE_DIR = process.env.PROFILE_DIR;
/** The child program, in bench/: identity-child.ts, or text-child.ts (reads the body, answers a new Response). */
const CHILD = process.env.CHILD ?? 'identity-child.ts';
/** Extra node flags for the children, such as --perf-basic-prof for `perf record -p`. */
const CHILD_FLAGS = (process.env.CHILD_FLAGS ?? '').split(' ').filter(Boolean);
const sources = JSON.parse(process.env.BENCH_SOURCES ?? '{}') as Record<string, string>;
if (Object.keys(sources).length === 0) sources.src = new URL('../src', import.meta.url).pathname;

const TICK_US = 10_000; // USER_HZ = 100 on Linux
/** The floor of a child's side: each read written back as it came (a message echoed is a valid answer). */
const RAW_ECHO = 'process.stdin.on("data", (chunk) => process.stdout.write(chunk))';
const IDS = 64;

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

/** Messages as the pool writes them (the library's own encoder): 1 KiB of HTML, each with its own id. */
async function encodeMessages(): Promise<{ bytes: Uint8Array; id: string }[]> {
  const page = `<!doctype html><title>bench</title><p>${'x'.repeat(Math.max(0, BODY_BYTES - 42))}</p>`;
  const messages: { bytes: Uint8Array; id: string }[] = [];
  for (let i = 0; i < IDS; i++) {
    const id = crypto.randomUUID();
    const response = new Response(page, { headers: { 'content-type': 'text/html; charset=UTF-8' } });
    const batches: Uint8Array[] = [];
    for await (const batch of encodeResponse(response, { fields: [['Transform-Request-Id', id]] })) {
      batches.push(concatBytes(batch));
    }
    messages.push({ bytes: concatBytes(batches), id });
  }
  return messages;
}

/** One identity child: `send(n)` runs n messages through it, PIPELINE in one write, their answers awaited. */
class Child {
  readonly #process: ChildProcessWithoutNullStreams;
  readonly #messages: { bytes: Uint8Array; id: string }[];
  #sent = 0;
  #left = 0;
  #done: (() => void) | undefined;
  #fail: ((error: unknown) => void) | undefined;
  #bodyBytes = 0;
  /** The ids of the messages written and not answered yet, oldest first. */
  #expectedIds: string[] = [];

  constructor(src: string, messages: { bytes: Uint8Array; id: string }[], name: string) {
    this.#messages = messages;
    const flags = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}/${name}`];
    flags.push(...CHILD_FLAGS);
    const program =
      src === 'raw' ? ['-e', RAW_ECHO] : ['--import', 'tsx', new URL(CHILD, import.meta.url).pathname];
    this.#process = spawn(process.execPath, [...flags, ...program], {
      env: { ...process.env, BENCH_SRC: src },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    console.error(`${name}: pid ${this.#process.pid}`);
    this.#process.stderr.on('data', (data) => process.stderr.write(data));
    const parser = new ResponseParser({
      onHead: (head) => {
        const id = head.context.get('id');
        const expected = this.#expectedIds.shift();
        if (id !== expected) this.#fail?.(new Error(`Answer with id ${id}, not ${expected}`));
        this.#bodyBytes = 0;
      },
      onBody: (chunk) => {
        this.#bodyBytes += chunk.byteLength;
      },
      onMessageEnd: () => this.#onAnswer(),
    });
    this.#process.stdout.on('data', (chunk: Uint8Array) => parser.push(chunk));
  }

  get pid(): number {
    return this.#process.pid as number;
  }

  /** Child CPU so far, in microseconds (utime + stime of every thread). */
  cpu(): { user: number; system: number } {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) * TICK_US, system: Number(fields[12]) * TICK_US };
  }

  send(count: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#left = count;
      this.#done = resolve;
      this.#fail = reject;
      this.#write();
    });
  }

  /** The next min(PIPELINE, left) messages, back to back in one write. */
  #write(): void {
    const batch: Uint8Array[] = [];
    for (let i = Math.min(PIPELINE, this.#left); i > 0; i--) {
      const message = this.#messages[this.#sent++ % this.#messages.length] as {
        bytes: Uint8Array;
        id: string;
      };
      this.#expectedIds.push(message.id);
      batch.push(message.bytes);
    }
    this.#process.stdin.write(concatBytes(batch));
  }

  #onAnswer(): void {
    if (this.#bodyBytes !== BODY_BYTES) this.#fail?.(new Error(`Answer of ${this.#bodyBytes} bytes`));
    if (--this.#left === 0) this.#done?.();
    else if (this.#expectedIds.length === 0) this.#write();
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.#process.once('exit', () => resolve());
      this.#process.stdin.end();
    });
  }
}

const messages = await encodeMessages();
const names = Object.keys(sources);
const children = names.map((name) => new Child(sources[name] as string, messages, name));
await Promise.all(children.map((child) => child.send(WARMUP)));

const perMessage: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order so no tree always runs first (or right after the same neighbour).
  for (let i = 0; i < names.length; i++) {
    const index = (i + round) % names.length;
    const child = children[index] as Child;
    const before = child.cpu();
    const start = performance.now();
    await child.send(MESSAGES);
    const elapsed = performance.now() - start;
    const after = child.cpu();
    const user = (after.user - before.user) / MESSAGES;
    const system = (after.system - before.system) / MESSAGES;
    perMessage[names[index] as string]?.push(user + system);
    console.error(
      `round ${round + 1} ${names[index]}: ${(user + system).toFixed(1)} µs CPU/message (user ${user.toFixed(1)}, system ${system.toFixed(1)}), ${Math.round((MESSAGES / elapsed) * 1000)} messages/s`,
    );
  }
}
await Promise.all(children.map((child) => child.stop()));

const first = median(perMessage[names[0] as string] as number[]);
const table: Record<string, { 'µs CPU/message': string; [ratio: string]: string }> = {};
for (const name of names) {
  const value = median(perMessage[name] as number[]);
  table[name] = {
    'µs CPU/message': value.toFixed(1),
    [`vs ${names[0]}`]: `${(value / first).toFixed(3)}x`,
    // Each round's ratio, then their median: steadier than a ratio of medians when the machine's load drifts.
    'paired ratio': `${median((perMessage[name] as number[]).map((us, round) => us / (perMessage[names[0] as string]?.[round] as number))).toFixed(3)}x`,
    rounds: (perMessage[name] as number[]).map((us) => us.toFixed(1)).join(' '),
  };
}
console.log(
  `\n${CHILD}, ${BODY_BYTES} B HTML messages ${PIPELINE === 1 ? 'one at a time' : `${PIPELINE} per write`}, median of ${ROUNDS} rounds of ${MESSAGES}\n`,
);
console.table(table);
