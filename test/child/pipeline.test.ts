// serveTransform under pipelined input, through one real child: several whole messages written back to back
// into its stdin, in one write or cut at awkward offsets (inside a head, inside a chunked body, between
// messages), as a parent that pipelines writes them. Each answer must come in order, with the id of the
// message it answers and that message's bytes.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { serveTransform } from '../../src/child/index.ts';
import { ResponseParser } from '../../src/wire/parser.ts';
import { CHILD_RUNTIMES } from '../_child-runtimes.ts';
import { fixture } from '../_utils.ts';
import { createRandom } from '../wire/cases.ts';

/** One message the test sends: what the fixture is asked to do with it, and how it is framed. */
interface Sent {
  mode?: 'slow' | 'throw' | 'early' | 'partial' | 'stream' | 'copy';
  status?: number;
  body?: Uint8Array;
  /** Sizes of the chunks a chunked body is cut into; without it, Content-Length (none for 204 and 304). */
  chunks?: number[];
  /** @default text/plain */
  type?: string;
  /** Sent as Transform-Request-URL. */
  url?: string;
}

/** What one answer was, as the test compares it: the body as size and digest, so a mismatch stays short. */
interface Seen {
  status: number;
  id: string | undefined;
  seq: string | null;
  error: string | null;
  body: { size: number; sha256: string } | string;
}

const REASONS: Record<number, string> = { 200: 'OK', 201: 'Created', 204: 'No Content', 304: 'Not Modified' };
const latin1 = (text: string): Uint8Array => Buffer.from(text, 'latin1');
const text = (value: string): Uint8Array => Buffer.from(value);

/** Small bodies compare as text, large ones as size and digest. */
function describeBody(bytes: Uint8Array): Seen['body'] {
  if (bytes.byteLength <= 256) return Buffer.from(bytes).toString('latin1');
  return { size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** The messages as a pipelining parent writes them, each with a fresh random id; the ids in order. */
function encodeMessages(sent: Sent[]): { input: Uint8Array; ids: string[]; starts: number[] } {
  const parts: Uint8Array[] = [];
  const ids: string[] = [];
  const starts: number[] = [];
  let offset = 0;
  sent.forEach((message, seq) => {
    const id = randomBytes(12).toString('hex');
    ids.push(id);
    const status = message.status ?? 200;
    const body = message.body ?? new Uint8Array(0);
    let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'OK'}\r\nContent-Type: ${message.type ?? 'text/plain'}\r\n`;
    head += `X-Seq: ${seq}\r\n`;
    if (message.mode !== undefined) head += `X-Mode: ${message.mode}\r\n`;
    if (message.url !== undefined) head += `Transform-Request-URL: ${message.url}\r\n`;
    head += `Transform-Request-Id: ${id}\r\n`;
    const framed: Uint8Array[] = [];
    if (message.chunks !== undefined) {
      head += 'Transfer-Encoding: chunked\r\n\r\n';
      let at = 0;
      for (const size of message.chunks) {
        framed.push(latin1(`${size.toString(16)}\r\n`), body.subarray(at, at + size), latin1('\r\n'));
        at += size;
      }
      framed.push(latin1('0\r\n\r\n'));
    } else {
      head += status === 204 || status === 304 ? '\r\n' : `Content-Length: ${body.byteLength}\r\n\r\n`;
      framed.push(body);
    }
    starts.push(offset);
    for (const part of [latin1(head), ...framed]) {
      parts.push(part);
      offset += part.byteLength;
    }
  });
  return { input: Buffer.concat(parts), ids, starts };
}

/** What each message should be answered with, by the fixture's rules (serve-pipeline.mjs). */
function expectAnswers(sent: Sent[], ids: string[]): Seen[] {
  return sent.map((message, seq) => {
    const status = message.status ?? 200;
    const body = message.body ?? new Uint8Array(0);
    const seen = { id: ids[seq], seq: String(seq), error: null };
    switch (message.mode) {
      case 'throw':
        return { ...seen, status: 500, seq: null, error: `refused message ${seq}`, body: '' };
      case 'early':
        return { ...seen, status: 200, body: 'early' };
      case 'partial':
        return { ...seen, status: 200, body: 'partial' };
      default:
        return { ...seen, status, body: describeBody(body) };
    }
  });
}

/**
 * Offsets where a real parent's writes can fall apart: between messages, inside a status line, between the
 * CR and LF that end a head, inside the first chunk-size line (or one byte into a body), in the middle of a
 * message, and a few seeded random ones.
 */
function getAwkwardCuts(input: Uint8Array, starts: number[], seed: number): number[] {
  const cuts = new Set<number>();
  const ends = [...starts.slice(1), input.byteLength];
  starts.forEach((start, i) => {
    const end = ends[i] as number;
    const headEnd =
      Buffer.from(input.buffer, input.byteOffset, input.byteLength).indexOf('\r\n\r\n', start) + 4;
    for (const cut of [start, start + 5, headEnd - 1, headEnd + 1, Math.floor((start + end) / 2)]) {
      if (cut > 0 && cut < input.byteLength && cut < end) cuts.add(cut);
    }
  });
  const random = createRandom(seed);
  for (let i = 0; i < 4; i++) cuts.add(1 + random(input.byteLength - 1));
  return [...cuts].sort((a, b) => a - b);
}

function cut(input: Uint8Array, at: number[]): Uint8Array[] {
  const bounds = [0, ...at, input.byteLength];
  return bounds.slice(1).map((end, i) => input.subarray(bounds[i], end));
}

/** Start a transform; reaped however the test ends. */
function startChild(argv: readonly string[]): ChildProcessWithoutNullStreams {
  const [command = '', ...args] = argv;
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return child;
}

/** The pipeline fixture under a runtime (its argv prefix). */
const pipelineFixture = (runtime: readonly string[] = [process.execPath]): string[] => [
  ...runtime,
  fixture('serve-pipeline.mjs'),
];

/**
 * Write `pieces` into one transform's stdin, each a moment after the last so most arrive as reads of their own,
 * then end it; the answers it wrote, parsed strictly (a stray or incomplete byte fails), and its exit code.
 */
async function pipeline(
  argv: readonly string[],
  pieces: Uint8Array[],
): Promise<{ answers: Seen[]; pids: Set<string | null>; code: number | null; stderr: string }> {
  const child = startChild(argv);
  const answers: Seen[] = [];
  const pids = new Set<string | null>();
  let current: { status: number; id: string | undefined; headers: Headers; body: Uint8Array[] } | undefined;
  const parser = new ResponseParser({
    onHead: (head) => {
      current = { status: head.status, id: head.context.get('id'), headers: head.headers, body: [] };
    },
    onBody: (chunk) => current?.body.push(chunk.slice()),
    onMessageEnd: () => {
      if (current === undefined) return;
      const { headers } = current;
      if (!headers.has('transform-error')) pids.add(headers.get('x-pid'));
      answers.push({
        status: current.status,
        id: current.id,
        seq: headers.get('x-seq'),
        error: headers.get('transform-error'),
        body: describeBody(Buffer.concat(current.body)),
      });
    },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (data: string) => {
    stderr += data;
  });
  child.stdout.on('data', (chunk: Uint8Array) => parser.push(chunk));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const ended = once(child.stdout, 'end');
  for (const [i, piece] of pieces.entries()) {
    if (i > 0) await sleep(5);
    child.stdin.write(piece);
  }
  child.stdin.end();
  await ended;
  parser.end();
  const [code] = await exited;
  return { answers, pids, code, stderr };
}

const small = (value: string): Sent => ({ body: text(value) });
const MIB = 1024 * 1024;
const large = new Uint8Array(randomBytes(5 * MIB));

/** The cases each runtime runs: a name and its messages. */
const CASES: [string, Sent[]][] = [
  ['Content-Length bodies', [small('one'), small('<p>two</p>'), small('three'), small('')]],
  [
    'chunked bodies',
    [
      { body: text('hello, world'), chunks: [5, 2, 5] },
      { body: text('x'), chunks: [1] },
      { body: text('streamed back'), chunks: [8, 5], mode: 'stream' },
      { body: text('last'), chunks: [4] },
    ],
  ],
  [
    'empty bodies: 204, 304, Content-Length: 0, chunked with no chunk',
    [
      { status: 204 },
      small('between'),
      { status: 304 },
      { body: new Uint8Array(0) },
      { body: new Uint8Array(0), chunks: [] },
      { status: 201, body: text('after') },
    ],
  ],
  [
    'a handler slow on the first message',
    [{ body: text('first, slow'), mode: 'slow' }, small('second'), { body: text('third'), chunks: [2, 3] }],
  ],
  [
    'a handler that throws on the second message',
    [small('one'), { mode: 'throw', body: text('two') }, small('three')],
  ],
  [
    'handlers that answer before reading their whole input',
    [
      { mode: 'early', body: text('not read at all') },
      { mode: 'partial', body: text('read in part'), chunks: [4, 4, 4] },
      { mode: 'early', body: new Uint8Array(randomBytes(300_000)), chunks: [100_000, 200_000] },
      small('whole after them'),
    ],
  ],
];

describe('serveTransform under pipelined input, on one process', () => {
  for (const [name, sent] of CASES) {
    it(`answers ${name} in order, with their ids and bytes, in one write and cut at awkward offsets`, async () => {
      const { input, ids, starts } = encodeMessages(sent);
      const expected = expectAnswers(sent, ids);
      for (const pieces of [[input], cut(input, getAwkwardCuts(input, starts, name.length))]) {
        const { answers, pids, code, stderr } = await pipeline(pipelineFixture(), pieces);
        expect(answers).toEqual(expected);
        expect(pids.size, stderr).toBe(1);
        expect(code, stderr).toBe(0);
      }
    });
  }

  it('answers the messages of a 5 MiB body and the small one behind it, in one write, byte-exact', async () => {
    const sent: Sent[] = [
      { body: large },
      small('small behind'),
      { body: large, mode: 'stream' },
      small('end'),
    ];
    const { input, ids } = encodeMessages(sent);
    const { answers, code, stderr } = await pipeline(pipelineFixture(), [input]);
    expect(answers).toEqual(expectAnswers(sent, ids));
    expect(code, stderr).toBe(0);
  });

  it('answers a 5 MiB chunked body, a handler that leaves one unread, and small ones, cut at awkward offsets', async () => {
    const sent: Sent[] = [
      { body: large, chunks: [MIB, 3 * MIB, MIB] },
      { body: large, mode: 'early' },
      small('small behind'),
    ];
    const { input, ids, starts } = encodeMessages(sent);
    const { answers, code, stderr } = await pipeline(
      pipelineFixture(),
      cut(input, getAwkwardCuts(input, starts, 7)),
    );
    expect(answers).toEqual(expectAnswers(sent, ids));
    expect(code, stderr).toBe(0);
  });

  it('writes the exact bytes of each answer when the whole pipeline came in one write', async () => {
    const sent = [small('one'), { status: 204 }, small('three')];
    const { input, ids } = encodeMessages(sent);
    const child = startChild(pipelineFixture());
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = once(child.stdout, 'end');
    child.stdin.end(input);
    await ended;
    const pid = child.pid;
    const head = (status: string, seq: number, length: string): string =>
      `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nX-Pid: ${pid}\r\nX-Seq: ${seq}\r\nTransform-Request-Id: ${ids[seq]}\r\nTransform-Pipeline: 1024\r\n${length}\r\n`;
    expect(Buffer.concat(chunks).toString('latin1')).toBe(
      `${head('200 OK', 0, 'Content-Length: 3\r\n')}one` +
        head('204 No Content', 1, '') +
        `${head('200 OK', 2, 'Content-Length: 5\r\n')}three`,
    );
  });
});

describe('serveTransform under pipelined input, in each runtime', () => {
  const sent: Sent[] = [
    small('one'),
    { body: text('chunked two'), chunks: [3, 8] },
    { status: 204 },
    { mode: 'throw', body: text('four') },
    { mode: 'early', body: new Uint8Array(randomBytes(200_000)) },
    { body: text('six, streamed'), chunks: [4, 9], mode: 'stream' },
    { status: 201, body: text('seven, copied'), mode: 'copy' },
    small('eight'),
  ];
  for (const { runtime, argv } of CHILD_RUNTIMES) {
    it(`answers a pipeline in order under ${runtime}, in one write and cut at awkward offsets`, async () => {
      const { input, ids, starts } = encodeMessages(sent);
      const expected = expectAnswers(sent, ids);
      for (const pieces of [[input], cut(input, getAwkwardCuts(input, starts, 11))]) {
        const { answers, pids, code, stderr } = await pipeline(pipelineFixture(argv), pieces);
        expect(answers).toEqual(expected);
        expect(pids.size, stderr).toBe(1);
        expect(code, stderr).toBe(0);
      }
    });
  }
});

describe('the example transforms under pipelined input', () => {
  const example = (name: string): string => fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));
  const json = (data: unknown, seq: number, chunks?: number[]): Sent => ({
    body: text(JSON.stringify(data)),
    type: 'application/json',
    url: `http://localhost/page/${seq}?q=1`,
    ...(chunks === undefined ? {} : { chunks }),
  });
  const escapeHtml = (value: string): string =>
    value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
  const datas = [{ n: 1, name: '<b>' }, [1, 2, 3], 'not JSON', { last: true }];
  const sent: Sent[] = [
    json(datas[0], 0),
    json(datas[1], 1, [2, 3, 2]),
    { body: text('not JSON'), type: 'application/json' },
    { ...json(datas[3], 3), status: 201 },
  ];
  for (const [name, argv] of [
    ['render.py', ['python3', example('render.py')]],
    ['render.js', [process.execPath, example('render.js')]],
  ] as const) {
    it(`${name} answers a pipeline in order, one message at a time, in one write and cut at awkward offsets`, async () => {
      const { input, ids, starts } = encodeMessages(sent);
      const page = (seq: number): string =>
        `<h1>/page/${seq}</h1><pre>${escapeHtml(JSON.stringify(datas[seq], null, 2))}</pre>`;
      const expected = [
        { status: 200, id: ids[0], seq: null, error: null, body: page(0) },
        { status: 200, id: ids[1], seq: null, error: null, body: page(1) },
        { status: 500, id: ids[2], seq: null, error: expect.any(String), body: '' },
        { status: 201, id: ids[3], seq: null, error: null, body: page(3) },
      ];
      for (const pieces of [[input], cut(input, getAwkwardCuts(input, starts, 3))]) {
        const { answers, code, stderr } = await pipeline(argv, pieces);
        expect(answers, stderr).toEqual(expected);
        expect(code, stderr).toBe(0);
      }
    });
  }
});

describe('answers under pipelined input', () => {
  /**
   * Serve `fn` in this process on `input`, in one write; each write to the output as it was made (a Writable
   * of its own: a PassThrough would join writes), also handed to `onWrite`.
   */
  async function serveInProcess(
    fn: Parameters<typeof serveTransform>[0],
    input: Uint8Array,
    onWrite: (chunk: Buffer) => void = () => {},
  ): Promise<Buffer[]> {
    const source = new PassThrough();
    const writes: Buffer[] = [];
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        writes.push(chunk);
        onWrite(chunk);
        callback();
      },
    });
    const served = serveTransform(fn, { input: source, output, exitOnEnd: false });
    source.end(input);
    await served;
    return writes;
  }

  it('each answer is written before the transform is called for the next message', async () => {
    const sent = Array.from({ length: 200 }, (_, i) => small(`message ${i}`));
    const { input, ids } = encodeMessages(sent);
    let out = '';
    const missing: number[] = [];
    let calls = 0;
    const writes = await serveInProcess(
      (response) => {
        // Every answer before this call is out already: the next call may end the process.
        const call = calls++;
        if (call > 0 && !out.includes(ids[call - 1] as string)) missing.push(call - 1);
        return response;
      },
      input,
      (chunk) => {
        out += chunk.toString('latin1');
      },
    );
    expect(missing).toEqual([]);
    expect(writes).toHaveLength(200);
    const expected = sent.map(
      (message, seq) =>
        `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Seq: ${seq}\r\nTransform-Request-Id: ${ids[seq]}\r\nTransform-Pipeline: 1024\r\n` +
        `Content-Length: ${message.body?.byteLength}\r\n\r\nmessage ${seq}`,
    );
    expect(Buffer.concat(writes).toString('latin1')).toBe(expected.join(''));
  });
});
