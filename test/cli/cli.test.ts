import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { serveFetch } from '../../src/cli/node-http.ts';
import { runCli, sendRaw, transformsOf } from '../_cli.ts';
import { exists, fixture, waitFor } from '../_utils.ts';

const LISTENING = /^subprocess-transform proxy listening on (http:\/\/\S+) -> (\S+)$/m;

interface Cli {
  child: ChildProcess;
  url: string;
  /** The upstream as the listening line names it. */
  upstream: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Run the CLI to its end; one that is still running after 20 s (it should exit at once) is killed. */
async function runToExit(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = runCli(args);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), 20_000);
  const [code] = (await once(run.child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** Start the proxy in front of `upstream` with the upper-casing transform, and wait for its listening line. */
async function startProxy(upstream: string): Promise<Cli> {
  const run = runCli([
    'proxy',
    '--upstream',
    upstream,
    '--port',
    '0',
    '--processes',
    '2',
    '--pipeline',
    '2',
    '--content-type',
    'application/json',
    '--',
    process.execPath,
    fixture('upper.mjs'),
  ]);
  const exited = once(run.child, 'exit').then(([code]) => code as number | null);
  const listening = await waitFor(() => LISTENING.test(run.stdout()), 15_000);
  if (!listening) {
    run.child.kill('SIGKILL');
    throw new Error(`The CLI did not start:\n${run.stdout()}\n${run.stderr()}`);
  }
  const [, url, named] = LISTENING.exec(run.stdout()) as RegExpExecArray;
  return { child: run.child, url: url as string, upstream: named as string, stderr: run.stderr, exited };
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
  });
}

function stopServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port nothing listens on: bound, then released. */
async function getDeadPort(): Promise<number> {
  const server = createServer();
  const url = await listen(server);
  await stopServer(server);
  return Number(new URL(url).port);
}

describe('subprocess-transform proxy', () => {
  const received: { method: string; url: string; body: string }[] = [];
  const upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        method: req.method as string,
        url: req.url as string,
        body: Buffer.concat(chunks).toString(),
      });
      if (req.url?.startsWith('/json')) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ hello: 'world', url: req.url }));
      } else if (req.url === '/text') {
        res.setHeader('content-type', 'text/plain');
        res.end('plain text');
      } else if (req.url === '/cookies') {
        res.setHeader('set-cookie', ['a=1; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT', 'b=2; HttpOnly']);
        res.setHeader('content-type', 'text/plain');
        res.end('cookies');
      } else if (req.url === '/echo' && req.method === 'POST') {
        res.setHeader('content-type', 'text/plain');
        res.end(`got ${Buffer.concat(chunks).toString()}`);
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
  });
  let cli: Cli;
  let upstreamUrl: string;

  beforeAll(async () => {
    upstreamUrl = await listen(upstream);
    cli = await startProxy(upstreamUrl);
  });

  afterAll(async () => {
    if (cli?.child.exitCode === null) cli.child.kill('SIGKILL');
    await stopServer(upstream);
  });

  it('logs the address it listens on, with the real port, and the upstream', () => {
    expect(cli.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(cli.url).not.toMatch(/:0$/);
    expect(cli.upstream).toBe(`${upstreamUrl}/`);
  });

  it('transforms a selected content type', async () => {
    const response = await fetch(`${cli.url}/json?q=1`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-transformed')).toBe('upper');
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toBe('{"HELLO":"WORLD","URL":"/JSON?Q=1"}');
  });

  it('passes other content types through untouched', async () => {
    const response = await fetch(`${cli.url}/text`);
    expect(response.headers.get('x-transformed')).toBeNull();
    expect(response.headers.get('content-type')).toBe('text/plain');
    expect(await response.text()).toBe('plain text');
  });

  it('forwards each Set-Cookie separately', async () => {
    const response = await fetch(`${cli.url}/cookies`);
    expect(response.headers.getSetCookie()).toEqual([
      'a=1; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT',
      'b=2; HttpOnly',
    ]);
    expect(await response.text()).toBe('cookies');
  });

  it('forwards a POST body to the upstream', async () => {
    const body = 'x'.repeat(100_000);
    const response = await fetch(`${cli.url}/echo`, { method: 'POST', body });
    expect(await response.text()).toBe(`got ${body}`);
    expect(received.at(-1)).toEqual({ method: 'POST', url: '/echo', body });
  });

  it('stops on SIGTERM with exit code 0 and leaves no transform process', async () => {
    const pid = cli.child.pid as number;
    // Both transform processes start with the proxy; they have served requests by now.
    expect(await waitFor(() => transformsOf(pid).length === 2)).toBe(true);
    const children = transformsOf(pid);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    expect(await waitFor(() => children.every((child) => !exists(child)))).toBe(true);
    expect(cli.stderr()).not.toMatch(/subprocess-transform: .*failed/);
  });
});

describe('subprocess-transform proxy with a dead upstream', () => {
  let cli: Cli;

  beforeAll(async () => {
    cli = await startProxy(`http://127.0.0.1:${await getDeadPort()}`);
  });

  afterAll(async () => {
    if (cli?.child.exitCode === null) {
      cli.child.kill('SIGTERM');
      await cli.exited;
    }
  });

  it('answers 502 text/plain', async () => {
    const response = await fetch(`${cli.url}/json`);
    expect(response.status).toBe(502);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await response.text()).toMatch(/upstream/);
  });
});

// Each case is a separate short-lived process: run them side by side.
describe.concurrent('subprocess-transform arguments', () => {
  it('documents every flag in --help and exits 0', async () => {
    const { code, stdout } = await runToExit(['--help']);
    expect(code).toBe(0);
    for (const flag of [
      '--upstream',
      '--port',
      '--host',
      '--processes',
      '--content-type',
      '--timeout',
      '--max-queue',
      '--client-buffer',
      '--client-timeout',
      '--upstream-timeout',
      '--shutdown-timeout',
      '--no-require-request-id',
      '--body-filter',
      '--log',
      'SIGHUP',
      '--help',
      '--version',
    ]) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toMatch(/Example:\n\s+subprocess-transform proxy --upstream/);
    // The access log's words, and the start check with its exit code.
    expect(stdout).toMatch(/transformed, passed .*\n.* failed .* aborted/);
    expect(stdout).toContain('checked at start (exit code 2 if it cannot run)');
  });

  it('prints the version', async () => {
    const { code, stdout } = await runToExit(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each([
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--port', 'x', '--', 'cat'],
      'Expected --port to be an integer from 0 to 65535, got "x"',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--port', '70000', '--', 'cat'],
      'Expected --port to be an integer from 0 to 65535, got "70000"',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--processes', '0', '--', 'cat'],
      'Expected --processes to be an integer of at least 1, got "0"',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--pipeline', '0', '--', 'cat'],
      'Expected --pipeline to be an integer from 1 to 1024, got "0"',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--timeout=-5', '--', 'cat'],
      'Expected --timeout to be an integer from 0 to 2147483647, got "-5"',
    ],
    [
      ['proxy', '--upstream', 'ftp://example.com', '--', 'cat'],
      'Expected --upstream to be an http or https URL, got "ftp://example.com"',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--content-type', 'json', '--', 'cat'],
      'Expected --content-type to be a media type such as text/html, got "json"',
    ],
    [['proxy', '--upstream', 'http://127.0.0.1:1'], 'Expected a transform command after --'],
    [['proxy', '--', 'cat'], 'Expected --upstream URL'],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--bogus', '--', 'cat'],
      'Unknown option "--bogus": see --help\n',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--prot', '8080', '--', 'cat'],
      'Unknown option "--prot": did you mean "--port"?\n',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--content_type=text/html', '--', 'cat'],
      'Unknown option "--content_type": did you mean "--content-type"?\n',
    ],
    [
      ['--upstream', 'http://127.0.0.1:1', '--', 'cat'],
      'Missing the subcommand proxy, as in: subprocess-transform proxy --upstream URL -- COMMAND\n',
    ],
    [['proxy', '--upstream'], 'Expected a value after --upstream'],
    [
      ['serve', '--upstream', 'http://127.0.0.1:1', '--', 'cat'],
      'Unknown subcommand "serve": the only one is proxy\n',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--max-queue', '-1', '--', 'cat'],
      'Expected --max-queue to be an integer of at least 0, got "-1"',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--upstream-timeout', '1.5', '--', 'cat'],
      'Expected --upstream-timeout to be an integer from 0 to 2147483647, got "1.5"',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--shutdown-timeout', '-1', '--', 'cat'],
      'Expected --shutdown-timeout to be an integer from 0 to 2147483647, got "-1"',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--log=yes', '--', 'cat'],
      'Expected no value after --log',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--port', '1', '--port', '2', '--', 'cat'],
      'Expected --port once',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--', 'no-such-transform'],
      'Cannot run the command "no-such-transform": no such program on PATH\n',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--body-filter', '--', 'no-such-filter', '-x'],
      'Cannot run the command "no-such-filter": no such program on PATH\n',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--body-filter', '--', 'tr a-z A-Z'],
      'Cannot run the command "tr a-z A-Z": no such program on PATH; it is one word with spaces: write the program and each argument as words of their own, as in: -- tr a-z A-Z\n',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--', 'node  render.js '],
      'Cannot run the command "node  render.js ": no such program on PATH; it is one word with spaces: write the program and each argument as words of their own, as in: -- node render.js\n',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--', './no-such-render.js'],
      'Cannot run the command "./no-such-render.js": no such file\n',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--body-filter', '--', 'test/fixtures'],
      'Cannot run the command "test/fixtures": it is a directory\n',
    ],
    [
      ['proxy', '--upstream', 'http://127.0.0.1:1', '--', 'test/fixtures/upper.mjs'],
      'Cannot run the command "test/fixtures/upper.mjs": it is not executable (chmod +x it, or name its interpreter first, as in: -- node render.js)\n',
    ],
  ])('exits 2 on %j', async (args, message) => {
    const { code, stderr } = await runToExit(args);
    expect(code).toBe(2);
    expect(stderr).toContain(`subprocess-transform: ${message}`);
  });
});

describe('serveFetch', () => {
  it('destroys the connection when the body fails mid-way, so the client never sees a clean end', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    let body: ReadableStreamDefaultController<Uint8Array> | undefined;
    const server = await serveFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              body = controller;
              controller.enqueue(new TextEncoder().encode('partial'));
            },
          }),
        ),
      { port: 0, host: '127.0.0.1' },
    );
    try {
      const response = await fetch(server.url);
      expect(response.status).toBe(200);
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      // The head and the first chunk have reached the client: only now does the body fail.
      expect((await reader.read()).done).toBe(false);
      body?.error(new Error('boom'));
      const readRest = async (): Promise<void> => {
        while (!(await reader.read()).done);
      };
      await expect(readRest()).rejects.toThrow();
      // The connection is broken before @hono/node-server hears of the error: nothing of it is logged there.
      expect(logged).not.toHaveBeenCalled();
    } finally {
      logged.mockRestore();
      await server.close({ timeout: 100 });
    }
  });

  it('a body that fails at its first read never becomes a 500 carrying the error message', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const server = await serveFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              controller.error(new Error('Transform "secret-render" (pid 4121) exited with code 0'));
            },
          }),
        ),
      { port: 0, host: '127.0.0.1' },
    );
    try {
      // @hono/node-server reads the first chunks before it writes the head: a failure there used to come back
      // as `500` with `Error: <message>`, naming the transform and its pid to any client.
      const raw = await sendRaw(server.url, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(raw.status).not.toBe(500);
      expect(raw.body).not.toContain('secret-render');
      expect(logged).not.toHaveBeenCalled();
    } finally {
      logged.mockRestore();
      await server.close({ timeout: 100 });
    }
  });

  it('cancels the response body and aborts the request signal when the client disconnects', async () => {
    let cancelled = false;
    let aborted = false;
    const server = await serveFetch(
      (request) => {
        request.signal.addEventListener('abort', () => {
          aborted = true;
        });
        return new Response(
          new ReadableStream({
            pull(controller) {
              controller.enqueue(new Uint8Array(65_536));
            },
            cancel() {
              cancelled = true;
            },
          }),
        );
      },
      { port: 0, host: '127.0.0.1' },
    );
    try {
      const req = httpRequest(server.url);
      req.end();
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      await once(res, 'data');
      req.destroy();
      expect(await waitFor(() => cancelled && aborted)).toBe(true);
    } finally {
      await server.close({ timeout: 100 });
    }
  });
});
