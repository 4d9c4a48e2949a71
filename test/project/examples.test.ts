import { type ChildProcess, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTransformPool } from '../../src/index.ts';
import { track } from '../_utils.ts';

// The code of the README and docs/*.md, run as a reader would: each JS, TS and Python block is a file in
// examples/ (its first line names it), copied into a fresh folder made with `npm init -y` and `npm pkg set
// type=module`, where the package and the examples' dependencies are linked into node_modules as `npm install`
// would put them.
const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
/** The README and every page of docs/, by path from the root. */
const pages = new Map<string, string>([
  ['README.md', readme],
  ...readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name): [string, string] => [`docs/${name}`, readFileSync(join(root, 'docs', name), 'utf8')]),
]);
const CODE_LANGUAGES = new Set(['js', 'mjs', 'ts', 'python']);
const MARKER = /^(?:\/\/|#) (examples\/[\w.-]+)$/;
const LISTENING = /Listening on (http:\/\/\S+)/;
/** Only a failure waits this long: a server that prints its address goes on at once. */
const LISTEN_TIMEOUT_MS = 60_000;
/** What `npm install subprocess-transform hono @hono/node-server` and the runtimes would put there. */
const LINKED = ['hono', '@hono/node-server', 'tsx', 'bun', 'deno', '.bin'];

interface CodeBlock {
  /** The page it is on. */
  page: string;
  language: string;
  code: string;
  /** The example file the block's first line names, if it names one. */
  file: string | undefined;
}

function getCodeBlocks(page: string, markdown: string): CodeBlock[] {
  return [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map(([, language = '', code = '']) => ({
    page,
    language,
    code,
    file: MARKER.exec(code.split('\n', 1)[0] ?? '')?.[1],
  }));
}

const blocks = [...pages]
  .flatMap(([page, markdown]) => getCodeBlocks(page, markdown))
  .filter((block) => CODE_LANGUAGES.has(block.language));
const files = blocks.map((block) => block.file).filter((file) => file !== undefined);

let consumer: string;

/** A folder like a reader's project: `npm init -y`, then whatever `setup` adds; the package linked in. */
async function createProject(setup: string[][] = []): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'readme-'));
  await execa('npm', ['init', '-y'], { cwd: dir });
  for (const args of setup) await execa('npm', args, { cwd: dir });
  mkdirSync(join(dir, 'node_modules', '@hono'), { recursive: true });
  symlinkSync(root, join(dir, 'node_modules', 'subprocess-transform'));
  return dir;
}

interface Server {
  url: URL;
  process: ChildProcess;
  output: () => string;
}

const servers: ChildProcess[] = [];

/** Start an example server with PORT=0 in the project folder (or `cwd`); resolves with the address it prints. */
function startServer(command: string, args: string[], cwd = consumer): Promise<Server> {
  // Its own process group, so stopping it stops npx and the runtime under it together.
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, PORT: '0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  servers.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`No address printed:\n${output}`)), LISTEN_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = LISTENING.exec(output);
      if (match?.[1] === undefined) return;
      clearTimeout(timer);
      // Whatever host it prints (localhost, 0.0.0.0), ask over 127.0.0.1.
      const url = new URL(match[1]);
      url.hostname = '127.0.0.1';
      resolve({ url, process: child, output: () => output });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`${command} ${args.join(' ')} exited (${code ?? signal}) before listening:\n${output}`),
      );
    });
  });
}

async function stopServers(): Promise<void> {
  await Promise.all(
    servers.splice(0).map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // Gone already.
      }
      await exited;
    }),
  );
}

/** The anchor GitHub gives a heading: lower case, punctuation dropped, each space a hyphen. */
const slug = (heading: string): string =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/ /g, '-');

/** Pages another branch writes: linked from here before they land. */
const WRITTEN_ELSEWHERE = new Set(['docs/layout.md']);

describe('the README and docs/', () => {
  it('names, in the first line of each JS, TS and Python block, the example file it is', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(7);
    const unmarked = blocks.filter((block) => block.file === undefined).map((block) => block.page);
    expect(unmarked).toEqual([]);
    expect(new Set(files).size).toBe(files.length);
  });

  it('keeps the README a front page: the quick starts on it, 1 500 words at most', () => {
    const onReadme = blocks.filter((block) => block.page === 'README.md').map((block) => block.file);
    expect(onReadme).toEqual([
      'examples/hono-node.js',
      'examples/bun.ts',
      'examples/deno.ts',
      'examples/render.js',
    ]);
    expect(readme.split(/\s+/).filter(Boolean).length).toBeLessThanOrEqual(1500);
  });

  it('quotes in troubleshooting the messages the code gives', () => {
    // As rendered: a line break inside a paragraph is a space.
    const page = (pages.get('docs/troubleshooting.md') ?? '').replace(/\s+/g, ' ');
    const source = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.ts'))
      .map((name) => readFileSync(join(root, 'src', name), 'utf8'))
      .join('\n');
    // Each the literal part of a message: the page quotes it whole, the code builds it around this text.
    for (const fragment of [
      'could not be started: ',
      'keeps failing at start (',
      'failed at start ',
      'Unknown option "',
      'did you mean "',
      'answered without the Transform-Request-Id of its message: copy that header from the input to the answer',
      'not the id of the message in flight',
      'wrote output while no transform was in flight',
      'Bare LF: lines must end with CRLF',
      'The response transform timed out',
      'did not answer its first message within startTimeout (',
      'Too many responses are waiting for a transform',
      'transforms waiting already (maxQueue)',
      'The response transform is shutting down',
      'The response transform could not be started',
      'it is one word with spaces: write the program and each argument as words of their own, as in: ',
      'no such program on PATH',
      'it does not exist',
      'before its first answer',
      'before its response was complete',
      'could not transform a response: ',
      'The response transform could not transform this response',
      'cannot be started: ',
      ' on PATH (searched ',
      'no answer within startTimeout, ',
      ' ms from its start',
      'it wrote nothing to stdout: a transform must flush its output after each answer',
      'this output is not an answer: stray output on stdout (a debug print, a banner) is the likely cause, write logs to stderr',
    ]) {
      expect(page, fragment).toContain(fragment);
      expect(source, fragment).toContain(fragment);
    }
  });

  it('links only to pages and headings that exist', () => {
    const broken: string[] = [];
    for (const [page, markdown] of pages) {
      for (const [, target = ''] of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [path = '', anchor] = target.split('#');
        const file = path === '' ? page : join(dirname(page), path);
        if (WRITTEN_ELSEWHERE.has(file) && !existsSync(join(root, file))) continue;
        const text = pages.get(file);
        if (text === undefined) {
          if (!existsSync(join(root, file))) broken.push(`${page}: ${target}`);
          continue;
        }
        const anchors = [...text.matchAll(/^#+ (.+)$/gm)].map(([, heading = '']) => slug(heading));
        if (anchor !== undefined && !anchors.includes(anchor)) broken.push(`${page}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  for (const block of blocks.filter((each) => each.file !== undefined)) {
    it(`shows ${block.file} verbatim`, () => {
      const file = readFileSync(join(root, block.file as string), 'utf8');
      expect(block.code).toBe(file);
    });
  }

  it('imports the package by its name in every example, never from src/', () => {
    for (const file of files) {
      const code = readFileSync(join(root, file), 'utf8');
      expect(code, file).not.toMatch(/from '\.\.?\//);
    }
  });

  it('says how to install it, that it is ESM only, and the Node version', () => {
    expect(readme).toContain('npm install subprocess-transform');
    expect(readme).toContain('npm pkg set type=module');
    expect(readme).toContain('Node >= 20.19');
  });
});

describe('the README examples, run', () => {
  beforeAll(async () => {
    consumer = await createProject([['pkg', 'set', 'type=module']]);
    for (const name of LINKED)
      symlinkSync(join(root, 'node_modules', name), join(consumer, 'node_modules', name));
    for (const file of files) copyFileSync(join(root, file), join(consumer, basename(file)));
  });

  afterAll(async () => {
    await stopServers();
    rmSync(consumer, { recursive: true, force: true });
  });

  it('runs in a project made by `npm init -y` and `npm pkg set type=module`', () => {
    const manifest = JSON.parse(readFileSync(join(consumer, 'package.json'), 'utf8')) as { type: string };
    expect(manifest.type).toBe('module');
  });

  it('pool.mjs transforms through cat and lists its processes, under plain node', async () => {
    const { stdout } = await execa('node', ['pool.mjs'], { cwd: consumer });
    expect(stdout.split('\n')[0]).toBe('hello');
    // The first process answered; the second has not yet, so it is still starting, as the comment says.
    expect(stdout).toMatch(
      /pid: \d+,\s+state: 'idle',\s+transforms: 1,[\s\S]*pid: \d+,\s+state: 'starting',/,
    );
    const code = readFileSync(join(root, 'examples/pool.mjs'), 'utf8');
    const comment = code.split('\n').find((line) => line.includes('stats()')) ?? '';
    const states = (text: string): string[] =>
      [...text.matchAll(/state: '(\w+)'/g)].map(([, state = '']) => state);
    expect(states(comment)).toEqual(states(stdout));
  });

  it('codec.mjs round-trips two responses through the codec streams, under plain node', async () => {
    const { stdout } = await execa('node', ['codec.mjs'], { cwd: consumer });
    expect(stdout).toBe('200 hello\n201 {"n":1}');
  });

  it('needs ESM: after a bare `npm init -y` (commonjs) render.js fails as the README says, pool.mjs runs', async () => {
    const project = await createProject();
    try {
      const manifest = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { type?: string };
      expect(manifest.type ?? 'commonjs').toBe('commonjs');
      copyFileSync(join(root, 'examples/render.js'), join(project, 'render.js'));
      const failed = await execa('node', ['render.js'], { cwd: project, reject: false, stdin: 'ignore' });
      expect(failed.exitCode).not.toBe(0);
      expect(failed.stderr).toContain('Cannot use import statement outside a module');
      expect(readme).toContain('Cannot use import statement outside a module');
      copyFileSync(join(root, 'examples/pool.mjs'), join(project, 'pool.mjs'));
      const { stdout } = await execa('node', ['pool.mjs'], { cwd: project });
      expect(stdout.split('\n')[0]).toBe('hello');
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it('render.py, the Python transform, renders JSON, streamed bodies too, and stays the same process', async () => {
    const pool = track(
      createTransformPool({ command: ['python3', join(consumer, 'render.py')], processes: 1 }),
    );
    const request = new Request('http://localhost/report?q=%3Cb%3E');
    const first = await pool.transform(Response.json({ name: '<b>' }, { status: 201 }), { request });
    expect(first.status).toBe(201);
    expect(first.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await first.text()).toBe(
      '<h1>/report</h1><pre>{\n  &#34;name&#34;: &#34;&#60;b&#62;&#34;\n}</pre>',
    );

    // A body still streaming goes to the process chunked.
    const encoder = new TextEncoder();
    const streamed = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('[1, '));
        controller.enqueue(encoder.encode('2]'));
        controller.close();
      },
    });
    const json = { headers: { 'content-type': 'application/json' } };
    const second = await pool.transform(new Response(streamed, json), { request });
    expect(await second.text()).toContain('<pre>[\n  1,\n  2\n]</pre>');

    // Not JSON: it answers Transform-Error, and keeps running.
    await expect(pool.transform(new Response('not json', json))).rejects.toMatchObject({
      code: 'ERR_TRANSFORM_FAILED',
    });
    expect(await (await pool.transform(Response.json(3))).text()).toBe('<h1></h1><pre>3</pre>');
    expect(pool.stats()).toMatchObject({ started: 1, ok: 3, failed: 1 });
    expect(pool.stats().processes).toEqual([expect.objectContaining({ state: 'idle' })]);
  });

  it('render.py and render.js, the same transform in two languages, give the same page', async () => {
    const python = track(
      createTransformPool({ command: ['python3', 'render.py'], cwd: consumer, processes: 1 }),
    );
    const node = track(createTransformPool({ command: ['node', 'render.js'], cwd: consumer, processes: 1 }));
    const request = new Request('http://localhost/caf%C3%A9/%3Ch1%3E?q=1');
    const data = {
      title: `<b>"Tom" & 'Jerry'</b>`,
      city: 'Zürich',
      list: [1, 2.5, null, true],
      nested: { a: [] },
    };
    const pages = await Promise.all(
      [python, node].map(async (pool) => (await pool.transform(Response.json(data), { request })).text()),
    );
    expect(pages[0]).toContain('<h1>/caf%C3%A9/%3Ch1%3E</h1>');
    expect(pages[0]).toContain('&#60;b&#62;\\&#34;Tom\\&#34; &#38; &#39;Jerry&#39;&#60;/b&#62;');
    expect(pages[0]).toBe(pages[1]);
  });

  it('render_helper.py, with the Python helper found on PYTHONPATH in the installed package, gives the page of render.js', async () => {
    // As docs/protocol.md says to start it: from the project's folder, a PYTHONPATH relative to it.
    const helper = track(
      createTransformPool({
        command: ['python3', 'render_helper.py'],
        cwd: consumer,
        env: { PYTHONPATH: 'node_modules/subprocess-transform/python', PYTHONDONTWRITEBYTECODE: '1' },
        processes: 1,
      }),
    );
    const node = track(createTransformPool({ command: ['node', 'render.js'], cwd: consumer, processes: 1 }));
    const request = new Request('http://localhost/caf%C3%A9/%3Ch1%3E?q=1');
    const data = { title: `<b>"Tom" & 'Jerry'</b>`, city: 'Zürich', list: [1, 2.5, null, true] };
    const [python, javascript] = await Promise.all(
      [helper, node].map((pool) => pool.transform(Response.json(data, { status: 201 }), { request })),
    );
    expect([python?.status, python?.headers.get('content-type')]).toEqual([201, 'text/html']);
    expect(await python?.text()).toBe(await javascript?.text());
    // Not JSON: this one fails, the process stays.
    await expect(helper.transform(new Response('not json'))).rejects.toMatchObject({
      code: 'ERR_TRANSFORM_FAILED',
    });
    expect(await (await helper.transform(Response.json(3))).text()).toBe('<h1>/</h1><pre>3</pre>');
    expect(helper.stats()).toMatchObject({ started: 1, exited: 0, ok: 2, failed: 1 });
  });

  // Needs the Hono middleware (`subprocess-transform/hono`), built in parallel on another branch.
  it('hono-node.js serves /report rendered by render.js, under plain node', async () => {
    const server = await startServer('node', ['hono-node.js']);
    const response = await fetch(server.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html');
    expect(await response.text()).toBe(
      '<h1>/report</h1><pre>{\n  &#34;rows&#34;: [\n    1,\n    2,\n    3\n  ]\n}</pre>',
    );
  });

  it('hono-node.js finds render.js next to it when started from another folder', async () => {
    const server = await startServer('node', [join(basename(consumer), 'hono-node.js')], dirname(consumer));
    const response = await fetch(server.url);
    expect([response.status, response.headers.get('content-type')]).toEqual([200, 'text/html']);
    expect(await response.text()).toMatch(/^<h1>\/report<\/h1><pre>/);
  });

  it('bun.ts serves JSON rendered by render.js, both under bun', async () => {
    const server = await startServer('npx', ['--no', '--', 'bun', 'bun.ts']);
    const response = await fetch(new URL('/hello', server.url));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html');
    expect(await response.text()).toBe('<h1>/hello</h1><pre>{\n  &#34;hello&#34;: &#34;bun&#34;\n}</pre>');
  });

  it('deno.ts serves JSON rendered by render.js, both under deno', async () => {
    // The command the README gives, flag included.
    const server = await startServer('npx', [
      '--no',
      '--',
      'deno',
      'run',
      '-A',
      '--unstable-no-legacy-abort',
      'deno.ts',
    ]);
    for (let request = 0; request < 2; request++) {
      const response = await fetch(new URL('/hello', server.url));
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html');
      expect(await response.text()).toBe('<h1>/hello</h1><pre>{\n  &#34;hello&#34;: &#34;deno&#34;\n}</pre>');
    }
    // Stopped, all it printed is in: a reader following the README sees no notice about request.signal.
    const exited = new Promise((resolve) => server.process.once('exit', resolve));
    process.kill(-(server.process.pid as number), 'SIGTERM');
    await exited;
    expect(server.output()).not.toMatch(/legacy/i);
  });

  for (const runtime of ['bun', 'deno']) {
    it(`${runtime}.ts type-checks with ${runtime}'s types`, async () => {
      const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      const flags = ['--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022'];
      const modules = ['--module', 'nodenext', '--moduleResolution', 'nodenext'];
      const types = ['--lib', 'es2023,dom,dom.iterable', '--types', runtime];
      const result = await execa('node', [tsc, ...flags, ...modules, ...types, `examples/${runtime}.ts`], {
        cwd: root,
        reject: false,
      });
      expect(result.stdout + result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
    });
  }
});
