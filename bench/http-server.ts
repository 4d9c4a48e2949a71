// The servers the HTTP benchmark loads: Hono on @hono/node-server serving 1 KiB of HTML, bare and with each
// transform, one port each, all in this process (as one server would host them). argv[2]: a JSON object naming
// the source trees to compare ({"base": "/tmp/base/src"}; default this tree). Each transform also runs with
// `pipeline: 1` beside the benchmarks' setting, where the tree has the option. Prints {"target": port} when ready.
import { spawn } from 'node:child_process';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { pipelineRows } from './pipeline.ts';

type Handler = (request: Request) => Response | Promise<Response>;
type Library = Pick<typeof import('../src/index.ts'), 'withTransform' | 'createTransformPool'>;

const PAGE = `<!doctype html><title>bench</title><p>${'x'.repeat(1024 - 42)}</p>`;
const here = new URL('.', import.meta.url).pathname;
const sources = JSON.parse(process.argv[2] ?? '{}') as Record<string, string>;
// Trees named: each runs as source, server and child alike. None: this tree's source for the server and the
// built package for the children (identity-child.ts).
const comparingTrees = Object.keys(sources).length > 0;
if (!comparingTrees) sources.src = new URL('../src', import.meta.url).pathname;

const app = new Hono();
app.get('/', (c) => c.html(PAGE));
const handler: Handler = (request) => app.fetch(request);

function listen(fetch: Handler): Promise<number> {
  return new Promise((resolve) => {
    serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(info.port));
  });
}

/** The reverse-proxy alternative: the same identity done by another process, behind a loopback HTTP call. */
function startIdentityServer(): Promise<number> {
  const code = `require('node:http').createServer((q, s) => { const c = []; q.on('data', (d) => c.push(d));
    q.on('end', () => { s.writeHead(200, { 'content-type': q.headers['content-type'] }); s.end(Buffer.concat(c)); });
  }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => child.kill());
  // Stopped by the benchmark with SIGTERM: exit through 'exit', so this child goes too.
  process.once('SIGTERM', () => process.exit());
  return new Promise((resolve) => child.stdout.once('data', (data) => resolve(Number(String(data)))));
}

const ports: Record<string, number> = { bare: await listen(handler) };
const sideCall = `http://127.0.0.1:${await startIdentityServer()}/`;
ports.sidecall = await listen(async (request) => {
  const response = await handler(request);
  const answer = await fetch(sideCall, {
    method: 'POST',
    body: await response.arrayBuffer(),
    headers: { 'content-type': response.headers.get('content-type') ?? 'text/html' },
  });
  return new Response(await answer.arrayBuffer(), { status: response.status, headers: response.headers });
});
for (const [name, src] of Object.entries(sources)) {
  const { withTransform, createTransformPool } = (await import(`${src}/index.ts`)) as Library;
  // The setting every benchmark uses, and one message per process beside it (bench/pipeline.ts).
  for (const [suffix, pipeline] of Object.entries(await pipelineRows(createTransformPool, name))) {
    ports[`cat:${name}${suffix}`] = await listen(
      withTransform(handler, { command: 'cat', processes: 4, ...pipeline }),
    );
    ports[`child:${name}${suffix}`] = await listen(
      withTransform(handler, {
        command: [process.execPath, '--import', 'tsx', `${here}identity-child.ts`],
        env: comparingTrees ? { BENCH_SRC: src } : {},
        processes: 2,
        ...pipeline,
      }),
    );
  }
}
console.log(JSON.stringify(ports));
