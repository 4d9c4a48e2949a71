import { type ParseArgsConfig, parseArgs } from 'node:util';
import { findNearestName } from '../util/known-keys.ts';

/** A command line the CLI cannot run; `message` is written for the user, `main` exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'ERR_USAGE';
}

/** What `proxy` runs. */
export interface ProxyArgs {
  kind: 'proxy';
  /** Base URL requests are forwarded to: their path and query are appended to it. */
  upstream: URL;
  port: number;
  host: string;
  /** Pool size; undefined: the library's default (`os.availableParallelism()`, four times that for a body filter). */
  processes: number | undefined;
  /** Messages one transform process may hold at once; undefined: the library's default. */
  pipeline: number | undefined;
  /** Media types to transform; empty: every response the default selection accepts. */
  contentType: string[];
  /** Transform timeout in ms; undefined: the library's default. */
  timeout: number | undefined;
  /** Transforms waiting for a free process before 503; undefined: the library's default. */
  maxQueue: number | undefined;
  /** Bytes of one answer kept for a slow client (`clientBuffer`); undefined: the library's default. */
  clientBuffer: number | undefined;
  /** ms a client may read nothing while its answer waits on it (`clientTimeout`); undefined: the default. */
  clientTimeout: number | undefined;
  /** ms of silence from the upstream before 504; 0: none. */
  upstreamTimeout: number;
  /** ms responses in flight get to finish on SIGINT/SIGTERM before they are cut. */
  shutdownTimeout: number;
  /** Whether transforms must echo `Transform-Request-Id`. */
  requireRequestId: boolean;
  /** Whether to write one access line per request on stdout (see createAccessLog). */
  log: boolean;
  /** Port serving GET /metrics (Prometheus text format) on `metricsHost`; undefined: none. */
  metrics: number | undefined;
  /** Address the metrics listen on: loopback unless the operator chooses, whatever `host` is. */
  metricsHost: string;
  /** Whether COMMAND is a plain filter run once per response (`protocol: 'body'`). */
  bodyFilter: boolean;
  /** Files or folders whose change reloads the transform processes; empty: none. */
  watch: string[];
  /** The transform program and its arguments, from after `--`. */
  command: [string, ...string[]];
}

/** A parsed command line. */
export type CliArgs = { kind: 'help' } | { kind: 'version' } | ProxyArgs;

/** Defaults of the `proxy` flags, repeated in {@link HELP}. */
const DEFAULTS = Object.freeze({
  port: 3000,
  host: '127.0.0.1',
  // Apart from --host: exposing the proxy on every interface must not expose its metrics too.
  metricsHost: '127.0.0.1',
  upstreamTimeout: 60_000,
  shutdownTimeout: 10_000,
});

/** What `--help` prints. */
export const HELP = `Usage: subprocess-transform proxy --upstream URL [options] -- COMMAND [ARGS...]

A reverse proxy in front of any HTTP server: each response from the upstream goes through a long-lived
transform process (COMMAND), which reads HTTP/1.1 responses on stdin and writes the changed ones to stdout.

Options:
  --upstream URL        Server to forward requests to; the request's path and query are appended (required)
  --port N              Port to listen on, 0 for any free one (default: ${DEFAULTS.port})
  --host HOST           Address to listen on (default: ${DEFAULTS.host})
  --processes N         Transform processes to keep running (default: available parallelism; 4x for --body-filter)
  --pipeline N          Requests one transform process may hold at once, answered in order, trusting
                        the transform to frame every answer exactly (default: 4 for a serveTransform
                        child, which announces it, 1 for any other)
  --content-type TYPE   Transform only responses of this media type; repeat for more (default: all)
  --timeout MS          Longest wait for the transform's response head and between its body chunks,
                        0 for none (default: 30000)
  --max-queue N         Requests waiting for a free transform process before answering 503 (default: 1000)
  --client-buffer BYTES Bytes of each transformed response kept for a client that reads slower than the
                        transform writes: a response that fits frees its transform process at once
                        (default: 1048576)
  --client-timeout MS   Longest time a client may read nothing while its response waits on it (its buffer
                        full); past it the response ends, logged as aborted, and the transform process
                        serves others (nginx's send_timeout), 0 for none (default: 5000)
  --upstream-timeout MS Longest silence from the upstream before answering 504 (nginx's proxy_read_timeout),
                        0 for none (default: ${DEFAULTS.upstreamTimeout})
  --shutdown-timeout MS Longest time responses in flight get to finish on SIGINT or SIGTERM; those still
                        going are then cut, logged as shutdown (default: ${DEFAULTS.shutdownTimeout})
  --no-require-request-id
                        Accept transforms that never echo Transform-Request-Id (answers are matched by order)
  --body-filter         COMMAND is a plain filter such as tr, sed or jq: one process per response, the body on
                        its stdin, the new body from its stdout (headers kept)
  --metrics PORT        Serve the pool's counters, gauges and latency histogram in the Prometheus text format
                        at http://METRICS-HOST:PORT/metrics (default: none)
  --metrics-host HOST   Address the metrics listen on, whatever --host is (default: ${DEFAULTS.metricsHost},
                        this machine only)
  --watch PATH          Reload the transform processes when this file or folder changes (saves 100 ms apart
                        make one reload); the old processes serve until a new one has answered, and a new
                        one that fails to start is logged with its stderr. Repeat for more paths
  --log                 Write one access line per request on stdout:
                        method, path, status, bytes sent, ms, and transformed, passed (sent as the
                        upstream sent it), failed (the transform failed), aborted (the client left) or
                        shutdown (cut by --shutdown-timeout); status 000: nothing reached the client
  -h, --help            Print this help
  --version             Print the version

COMMAND is a program on PATH or a path to an executable file, checked at start (exit code 2 if it cannot run).
Write the program and each argument as words of their own: -- tr a-z A-Z, not -- 'tr a-z A-Z'.

Signals: SIGHUP replaces the transform processes without failing a request; SIGINT and SIGTERM shut down.

Example:
  subprocess-transform proxy --upstream http://127.0.0.1:8000 --content-type application/json \\
    -- node render.js
  subprocess-transform proxy --upstream http://127.0.0.1:8000 --content-type application/json --body-filter \\
    -- jq '.items'
`;

/** The longest delay setTimeout honours; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

// Every flag is declared, but parsed leniently: node:util's own errors ("Unknown option '--x'. To specify a
// positional argument starting with a '-'...") would not say what to do here, so the tokens are checked below.
const OPTIONS = {
  upstream: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  processes: { type: 'string' },
  pipeline: { type: 'string' },
  'content-type': { type: 'string', multiple: true },
  timeout: { type: 'string' },
  'max-queue': { type: 'string' },
  'client-buffer': { type: 'string' },
  'client-timeout': { type: 'string' },
  'upstream-timeout': { type: 'string' },
  'shutdown-timeout': { type: 'string' },
  'no-require-request-id': { type: 'boolean' },
  'body-filter': { type: 'boolean' },
  metrics: { type: 'string' },
  'metrics-host': { type: 'string' },
  watch: { type: 'string', multiple: true },
  log: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

type Values = {
  [Name in keyof typeof OPTIONS]?: (typeof OPTIONS)[Name] extends { multiple: true }
    ? string[]
    : (typeof OPTIONS)[Name] extends { type: 'string' }
      ? string
      : boolean;
};

function fail(message: string): never {
  throw new UsageError(message);
}

function parseInteger(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  // Digits only: Number() would also take '', ' 1', '0x10' and '1e3'.
  if (!/^\d+$/.test(text) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    fail(`Expected ${flag} to be an integer ${range}, got ${JSON.stringify(text)}`);
  }
  return value;
}

function parseOptionalInteger(
  flag: string,
  text: string | undefined,
  min: number,
  max?: number,
): number | undefined {
  return text === undefined ? undefined : parseInteger(flag, text, min, max);
}

function parseHost(flag: string, text: string): string {
  if (text === '') fail(`Expected ${flag} to be an address, got ""`);
  return text;
}

function parseUpstream(text: string): URL {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    fail(`Expected --upstream to be an http or https URL, got ${JSON.stringify(text)}`);
  }
  return url;
}

// RFC 9110 section 8.3.1: type "/" subtype, both tokens; parameters are not part of the match.
const MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/i;

function parseMediaType(text: string): string {
  if (!MEDIA_TYPE.test(text))
    fail(`Expected --content-type to be a media type such as text/html, got ${JSON.stringify(text)}`);
  return text.toLowerCase();
}

function parseWatchPath(text: string): string {
  if (text === '') fail('Expected --watch to be a file or folder, got ""');
  return text;
}

/** Check what the lenient parse let through: unknown flags, missing or unexpected values, repeats. */
function validateTokens(tokens: NonNullable<ReturnType<typeof parseArgs>['tokens']>): void {
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = (OPTIONS as Record<string, { type: string; multiple?: boolean }>)[token.name];
    if (option === undefined) {
      const nearest = findNearestName(token.name, Object.keys(OPTIONS));
      const hint = nearest === undefined ? 'see --help' : `did you mean "--${nearest}"?`;
      fail(`Unknown option ${JSON.stringify(token.rawName)}: ${hint}`);
    }
    if (option.type === 'string' && token.value === undefined)
      fail(`Expected a value after ${token.rawName}`);
    if (option.type === 'boolean' && token.value !== undefined)
      fail(`Expected no value after ${token.rawName}`);
    if (seen.has(token.name) && option.multiple !== true && option.type === 'string') {
      fail(`Expected --${token.name} once, got it more than once`);
    }
    seen.add(token.name);
  }
}

/**
 * Parse the CLI's arguments (without the `node` and script paths) with `node:util`'s `parseArgs`. Flags take
 * their value as the next argument or after `=`; everything after `--` is the transform command.
 *
 * @param argv `process.argv.slice(2)`.
 * @returns What to do; throws a {@link UsageError} with a message for the user when the line is wrong.
 * @example
 * ```ts
 * const args = parseCliArgs(['proxy', '--upstream', 'http://127.0.0.1:8000', '--', 'cat']);
 * // { kind: 'proxy', port: 3000, host: '127.0.0.1', command: ['cat'], ... }
 * ```
 */
export function parseCliArgs(argv: readonly string[]): CliArgs {
  // Split first: a flag missing its value must not swallow `--` and the command after it.
  const separator = argv.indexOf('--');
  const own = separator === -1 ? argv : argv.slice(0, separator);
  const command = separator === -1 ? [] : argv.slice(separator + 1);
  const parsed = parseArgs({
    args: [...own],
    options: OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values = parsed.values as Values;
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  validateTokens(parsed.tokens);
  const { positionals } = parsed;
  // The transform command after `--` is no subcommand: without `proxy` the line names none.
  if (positionals.length === 0)
    fail('Missing the subcommand proxy, as in: subprocess-transform proxy --upstream URL -- COMMAND');
  if (positionals[0] !== 'proxy')
    fail(`Unknown subcommand ${JSON.stringify(positionals[0])}: the only one is proxy`);
  if (positionals.length > 1) {
    fail(`Unexpected argument ${JSON.stringify(positionals[1])}: put the transform command after --`);
  }
  if (values.upstream === undefined) fail('Expected --upstream URL: the server to forward requests to');
  if (command.length === 0 || command[0] === '') {
    fail('Expected a transform command after --, as in: -- node render.js');
  }
  const port = parseOptionalInteger('--port', values.port, 0, 65_535) ?? DEFAULTS.port;
  const metrics = parseOptionalInteger('--metrics', values.metrics, 0, 65_535);
  if (metrics === undefined && values['metrics-host'] !== undefined)
    fail('Expected --metrics PORT with --metrics-host: it says where the metrics listen');
  if (metrics !== undefined && metrics !== 0 && metrics === port)
    fail(`Expected --metrics to be another port than --port, got ${metrics} for both`);
  return {
    kind: 'proxy',
    upstream: parseUpstream(values.upstream),
    port,
    host: parseHost('--host', values.host ?? DEFAULTS.host),
    processes: parseOptionalInteger('--processes', values.processes, 1),
    pipeline: parseOptionalInteger('--pipeline', values.pipeline, 1, 1024),
    contentType: (values['content-type'] ?? []).map(parseMediaType),
    timeout: parseOptionalInteger('--timeout', values.timeout, 0, MAX_TIMER_MS),
    maxQueue: parseOptionalInteger('--max-queue', values['max-queue'], 0),
    clientBuffer: parseOptionalInteger('--client-buffer', values['client-buffer'], 0),
    clientTimeout: parseOptionalInteger('--client-timeout', values['client-timeout'], 0, MAX_TIMER_MS),
    upstreamTimeout:
      parseOptionalInteger('--upstream-timeout', values['upstream-timeout'], 0, MAX_TIMER_MS) ??
      DEFAULTS.upstreamTimeout,
    shutdownTimeout:
      parseOptionalInteger('--shutdown-timeout', values['shutdown-timeout'], 0, MAX_TIMER_MS) ??
      DEFAULTS.shutdownTimeout,
    requireRequestId: values['no-require-request-id'] !== true,
    metrics,
    metricsHost: parseHost('--metrics-host', values['metrics-host'] ?? DEFAULTS.metricsHost),
    log: values.log === true,
    bodyFilter: values['body-filter'] === true,
    watch: (values.watch ?? []).map(parseWatchPath),
    command: command as [string, ...string[]],
  };
}
