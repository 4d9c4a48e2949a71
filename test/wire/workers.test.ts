// The wire codec inside workerd: test/workers/worker.ts, bundled with esbuild, served by Miniflare, driven
// with dispatchFetch. Compatibility flags needed: none (compatibilityDate 2025-09-01, workerd 1.20260426.1);
// the codec uses only Web Streams, TextEncoder, Headers and Response, and setTimeout where setImmediate is missing.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concat, latin1, toText } from '../wire/cases.ts';

const WORKER = fileURLToPath(new URL('../workers/worker.ts', import.meta.url));
// Miniflare's first start in a process can take seconds on a loaded machine.
const START_TIMEOUT = 120_000;

let mf: Miniflare | undefined;

async function bundleWorker(): Promise<string> {
  const result = await build({
    entryPoints: [WORKER],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const [output] = result.outputFiles;
  if (output === undefined) throw new Error('esbuild produced no output for the Worker');
  return output.text;
}

beforeAll(async () => {
  const script = await bundleWorker();
  const instance = new Miniflare({ modules: true, script, compatibilityDate: '2025-09-01' });
  try {
    await instance.ready;
  } catch (error) {
    await instance.dispose();
    throw error;
  }
  mf = instance;
}, START_TIMEOUT);

afterAll(async () => {
  await mf?.dispose();
}, START_TIMEOUT);

/** Ask the Worker; identity encoding, or workerd would gzip the answer. */
async function ask(path: string, body?: Uint8Array): Promise<Response> {
  if (mf === undefined) throw new Error('Miniflare did not start');
  const response = await mf.dispatchFetch(`http://localhost${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    body,
    headers: { 'accept-encoding': 'identity' },
  });
  return response as unknown as Response;
}

const SAMPLE_BYTES =
  'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; HttpOnly\r\n' +
  'Content-Length: 11\r\n\r\n{"ok":true}' +
  'HTTP/1.1 204 No Content\r\nX-Empty: yes\r\n\r\n' +
  'HTTP/1.1 404 Gone Fishing\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nchunk one, \r\n9\r\nchunk two\r\n0\r\n\r\n' +
  'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n';

const SAMPLE_DESCRIBED = [
  {
    status: 200,
    statusText: 'OK',
    headers: [
      ['content-type', 'application/json'],
      ['set-cookie', 'a=1; Path=/'],
      ['set-cookie', 'b=2; HttpOnly'],
    ],
    setCookie: ['a=1; Path=/', 'b=2; HttpOnly'],
    body: '{"ok":true}',
  },
  { status: 204, statusText: 'No Content', headers: [['x-empty', 'yes']], setCookie: [], body: '' },
  { status: 404, statusText: 'Gone Fishing', headers: [], setCookie: [], body: 'chunk one, chunk two' },
  { status: 201, statusText: 'Created', headers: [], setCookie: [], body: '' },
];

describe.each(['functions', 'streams'])('the wire codec in a Worker, through the %s', (via) => {
  it('encodes exact HTTP/1.1 bytes: Content-Length when free, chunked for a streaming body, two Set-Cookie', async () => {
    const response = await ask(`/encode?via=${via}`);
    expect(response.status).toBe(200);
    expect(toText(new Uint8Array(await response.arrayBuffer()))).toBe(SAMPLE_BYTES);
  });

  it('decodes HTTP/1.1 bytes sent in, keeping statuses, reasons, headers and both Set-Cookie', async () => {
    const response = await ask(`/decode?via=${via}`, latin1(SAMPLE_BYTES));
    expect(await response.json()).toEqual({ responses: SAMPLE_DESCRIBED });
  });

  it('round-trips Responses inside the Worker', async () => {
    const response = await ask(`/round-trip?via=${via}`);
    expect(await response.json()).toEqual({ responses: SAMPLE_DESCRIBED });
  });

  it('rejects malformed bytes with the WireError code and offset', async () => {
    const bad = concat(
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx',
      'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n',
    );
    const response = await ask(`/decode?via=${via}`, bad);
    expect(await response.json()).toEqual({
      error: { name: 'WireError', code: 'ERR_WIRE_SYNTAX', offset: 54 },
    });
  });

  it('decodes a 200 KiB body', async () => {
    const body = 'z'.repeat(200 * 1024);
    const bytes = latin1(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const response = await ask(`/decode?via=${via}`, bytes);
    const { responses } = (await response.json()) as { responses: { body: string }[] };
    expect(responses.map((described) => described.body.length)).toEqual([body.length]);
  });
});
