#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { isTransformable } from '../wrapper/selector.ts';
import { withTransform } from '../wrapper/with-transform.ts';
import { createAccessLog } from './access-log.ts';
import { HELP, type ProxyArgs, parseCliArgs, UsageError } from './args.ts';
import { checkCommand } from './command-check.ts';
import { refuseWhileDraining } from './drain-refusal.ts';
import { METRICS_PATH, serveMetrics } from './metrics-server.ts';
import { serveFetch } from './node-http.ts';
import { createProxyHandler, isProxyError } from './proxy.ts';

const NAME = 'subprocess-transform';

function getVersion(): string {
  // The same relative path from src/cli/ and dist/cli/.
  const url = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

async function runProxy(args: ProxyArgs): Promise<void> {
  // Before listening: a command that cannot run would turn every request into a 502.
  checkCommand(args.command, process.env, process.cwd());
  // A misspelt path would be watched for its creation, and no edit would ever reload.
  const missing = args.watch.find((path) => !existsSync(path));
  if (missing !== undefined)
    throw new UsageError(
      `Expected --watch to be a file or folder, got ${JSON.stringify(missing)}: it does not exist`,
    );
  const accessLog = args.log ? createAccessLog() : undefined;
  const proxy = createProxyHandler({ upstream: args.upstream, upstreamTimeout: args.upstreamTimeout });
  const handler = withTransform(accessLog?.recordUpstream(proxy) ?? proxy, {
    command: args.command,
    processes: args.processes,
    pipeline: args.pipeline,
    contentType: args.contentType.length > 0 ? args.contentType : undefined,
    // The proxy's own 502 and 504 go to the client as they are: a transform would fail on them.
    shouldTransform: (response, request) => !isProxyError(response) && isTransformable(response, request),
    timeout: args.timeout,
    maxQueue: args.maxQueue,
    clientBuffer: args.clientBuffer,
    clientTimeout: args.clientTimeout,
    requireRequestId: args.requireRequestId,
    protocol: args.bodyFilter ? 'body' : 'http',
    watch: args.watch.length > 0 ? args.watch : undefined,
    // As 'respond' does, and the access line says `failed`.
    onError: accessLog?.onError,
  });
  let state: 'serving' | 'stopping' = 'serving';
  // Inside the access log: its line says `503 ... shutdown` for a request refused by the drain.
  const served = refuseWhileDraining(handler, () => state === 'stopping');
  let server: Awaited<ReturnType<typeof serveFetch>>;
  try {
    server = await serveFetch(accessLog?.wrap(served) ?? served, { port: args.port, host: args.host });
  } catch (error) {
    await handler.pool.close({ timeout: 0 });
    throw error;
  }
  let metrics: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  if (args.metrics !== undefined) {
    try {
      metrics = await serveMetrics(handler.pool, { port: args.metrics, host: args.metricsHost });
    } catch (error) {
      await server.close({ timeout: 0 });
      await handler.pool.close({ timeout: 0 });
      throw error;
    }
  }
  console.log(`${NAME} proxy listening on ${server.url} -> ${args.upstream.href}`);
  if (metrics !== undefined) console.log(`${NAME} metrics on ${metrics.url}${METRICS_PATH}`);

  async function stop(signal: NodeJS.Signals): Promise<void> {
    // A second signal means "now": the pool's exit hook still kills every transform process.
    if (state === 'stopping') process.exit(1);
    state = 'stopping';
    console.error(`${NAME}: ${signal}, shutting down`);
    // Responses in flight finish first (they may still need the transforms), within --shutdown-timeout; then the
    // pool drains what is left in it (transforms of responses cut by then are aborted: nothing waits on them).
    await server.close({ timeout: args.shutdownTimeout });
    await metrics?.close({ timeout: 0 });
    await handler.pool.close({ timeout: args.shutdownTimeout });
    process.exit(0);
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    stop(signal).catch((error: unknown) => {
      console.error(`${NAME}: shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // SIGHUP would end the process by default; as for nginx, it means "reload": fresh transform processes, with
  // the transforms in flight finishing on the old ones.
  process.on('SIGHUP', () => {
    if (state === 'stopping') return;
    console.error(`${NAME}: SIGHUP, reloading the transform processes`);
    handler.pool.reload().catch((error: unknown) => {
      console.error(`${NAME}: reload failed: ${error instanceof Error ? error.message : String(error)}`);
    });
  });
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseCliArgs(argv);
  if (args.kind === 'help') process.stdout.write(HELP);
  else if (args.kind === 'version') console.log(getVersion());
  else await runProxy(args);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`${NAME}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
});
