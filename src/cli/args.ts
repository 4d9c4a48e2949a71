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
  /** Pool size; undefined: the library's default (`os.availableParallelism()`). */
  processes: number | undefined;
  /** Media types to transform; empty: every response the default selection accepts. */
  contentType: string[];
  /** Transform timeout in ms; undefined: the library's default. */
  timeout: number | undefined;
  /** The transform program and its arguments, from after `--`. */
  command: [string, ...string[]];
}

/** A parsed command line. */
export type CliArgs = { kind: 'help' } | { kind: 'version' } | ProxyArgs;

/** Defaults of the `proxy` flags, repeated in {@link HELP}. */
export const DEFAULTS = Object.freeze({ port: 3000, host: '127.0.0.1' });

/** What `--help` prints. */
export const HELP = `Usage: subprocess-transform proxy --upstream URL [options] -- COMMAND [ARGS...]

A reverse proxy in front of any HTTP server: each response from the upstream goes through a long-lived
transform process (COMMAND), which reads HTTP/1.1 responses on stdin and writes the changed ones to stdout.

Options:
  --upstream URL        Server to forward requests to; the request's path and query are appended (required)
  --port N              Port to listen on, 0 for any free one (default: ${DEFAULTS.port})
  --host HOST           Address to listen on (default: ${DEFAULTS.host})
  --processes N         Transform processes to keep running (default: available parallelism)
  --content-type TYPE   Transform only responses of this media type; repeat for more (default: all)
  --timeout MS          Longest wait for the transform's response head and between its body chunks,
                        0 for none (default: 30000)
  -h, --help            Print this help
  --version             Print the version

Example:
  subprocess-transform proxy --upstream http://127.0.0.1:8000 --content-type application/json \\
    -- node render.js
`;

/** The longest delay setTimeout honours; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Flags that take a value; only `--content-type` may repeat. */
const FLAGS = new Set(['upstream', 'port', 'host', 'processes', 'content-type', 'timeout']);

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

function parseHost(text: string): string {
  if (text === '') fail('Expected --host to be an address, got ""');
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

/**
 * Parse the CLI's arguments (without the `node` and script paths). Flags take their value as the next
 * argument or after `=`; everything after `--` is the transform command.
 *
 * @param argv `process.argv.slice(2)`.
 * @returns What to do; throws a {@link UsageError} with a message for the user when the line is wrong.
 * @example
 * ```ts
 * const args = parseArgs(['proxy', '--upstream', 'http://127.0.0.1:8000', '--', 'cat']);
 * // { kind: 'proxy', port: 3000, host: '127.0.0.1', command: ['cat'], ... }
 * ```
 */
export function parseArgs(argv: readonly string[]): CliArgs {
  const separator = argv.indexOf('--');
  const own = separator === -1 ? argv : argv.slice(0, separator);
  const command = separator === -1 ? [] : argv.slice(separator + 1);
  if (own.includes('--help') || own.includes('-h')) return { kind: 'help' };
  if (own.includes('--version')) return { kind: 'version' };

  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < own.length; i++) {
    const arg = own[i] as string;
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf('=');
    const name = arg.slice(2, equals === -1 ? undefined : equals);
    if (!arg.startsWith('--') || !FLAGS.has(name)) fail(`Unknown option ${JSON.stringify(arg)}: see --help`);
    const value = equals === -1 ? own[++i] : arg.slice(equals + 1);
    if (value === undefined) fail(`Expected a value after --${name}`);
    const list = values.get(name) ?? [];
    list.push(value);
    if (list.length > 1 && name !== 'content-type')
      fail(`Expected --${name} once, got it ${list.length} times`);
    values.set(name, list);
  }

  if (positionals.length === 0)
    fail('Expected a command: subprocess-transform proxy --upstream URL -- COMMAND');
  if (positionals[0] !== 'proxy')
    fail(`Unknown command ${JSON.stringify(positionals[0])}: the only one is proxy`);
  if (positionals.length > 1) {
    fail(`Unexpected argument ${JSON.stringify(positionals[1])}: put the transform command after --`);
  }
  const get = (name: string): string | undefined => values.get(name)?.[0];
  const upstream = get('upstream');
  if (upstream === undefined) fail('Expected --upstream URL: the server to forward requests to');
  if (command.length === 0 || command[0] === '') {
    fail('Expected a transform command after --, as in: -- node render.js');
  }
  return {
    kind: 'proxy',
    upstream: parseUpstream(upstream),
    port: parseOptionalInteger('--port', get('port'), 0, 65_535) ?? DEFAULTS.port,
    host: parseHost(get('host') ?? DEFAULTS.host),
    processes: parseOptionalInteger('--processes', get('processes'), 1),
    contentType: (values.get('content-type') ?? []).map(parseMediaType),
    timeout: parseOptionalInteger('--timeout', get('timeout'), 0, MAX_TIMER_MS),
    command: command as [string, ...string[]],
  };
}
