// About 300 lines: half of it is the options interface, each option's documentation where editors show it.
import { availableParallelism } from 'node:os';
import { describeValue } from '../util/describe-value.ts';
import { validateKnownKeys } from '../util/known-keys.ts';
import { resolveLimits, type WireLimits } from '../wire/limits.ts';
import { formatCommand, parseCommand } from './command.ts';
import { assertRunnable } from './command-check.ts';
import { type ProcessEvent, validateOnEvent } from './events.ts';
import { SLOW_CLIENT_DEFAULTS, validateClientBuffer, validateClientTimeout } from './slow-client.ts';
import { type StderrOption, validateStderr } from './stderr.ts';
import { validateTimeout } from './timeout.ts';
import { validateWatch } from './watch.ts';

/** What a process has done so far, passed to the `recycle` hook after each transform. */
export interface RecycleInfo {
  pid: number;
  /** Transforms this process has completed. */
  transforms: number;
  /** `Date.now()` when it was started. */
  startedAt: number;
}

/**
 * How to run and supervise a pool's processes: the keys `PoolOptions` and `TransformOptions`
 * share.
 */
export interface PoolSettings {
  /**
   * The transform program: an argv array, or a string split like a shell would (no shell is run). A program
   * that cannot be found when the pool is made (not on the process's PATH, no such file from `cwd`, not
   * executable) is refused then, with a `TransformError` `ERR_TRANSFORM_SPAWN` naming it.
   */
  command: string | readonly string[];
  /** Working directory of the process. @default the parent's */
  cwd?: string;
  /** Variables for the process, added to the parent's environment unless `extendEnv` is false. @default the parent's */
  env?: Record<string, string | undefined>;
  /**
   * Whether the process gets the parent's environment too; `false` passes only `env`, so a transform you do
   * not trust gets none of the server's secrets. @default true
   */
  extendEnv?: boolean;
  /** Run the process as this user id (the parent must be allowed to). @default the parent's */
  uid?: number;
  /** Run the process with this group id. @default the parent's */
  gid?: number;
  /**
   * Processes in the pool, from 1 to 1024; with `protocol: 'body'`, filter children, each running one filter
   * at a time, so the most filters at work at once.
   * @default os.availableParallelism(); with `protocol: 'body'`, four times that (at most 64)
   */
  processes?: number;
  /**
   * Messages one process may hold at once, from 1 to 1024: written back to back and answered in order, as
   * HTTP/1.1 pipelining. Unset, only a process that announced it frames every answer by construction (a
   * `serveTransform` child) holds several, 4 at most; every other holds one client's message at a time. Set,
   * every process may hold this many: a transform must then frame every answer exactly, since one answer
   * too long carries the next client's bytes, and messages behind a process that stops are run again. A
   * message joins a busy process only when none is idle, and only one that has answered before. @default 4
   * for announcing processes, 1 for the rest
   */
  pipeline?: number;
  /** Milliseconds until the response head arrives, and the longest silence between body chunks. @default 30000 */
  timeout?: number;
  /**
   * Milliseconds from a process's start until its first answer head (loading plus that first transform), used
   * instead of `timeout` for it, so a renderer that loads slowly is never killed for loading. A kill by it
   * counts as a failure to start. @default 30000, or `timeout` if larger
   */
  startTimeout?: number;
  /**
   * Bytes of one answer kept in the parent for a client that reads slower than the transform writes: an
   * answer that fits is read whole and its process serves others while the client reads it. Past it the
   * output is paused; `Infinity` never pauses it (and holds any answer whole in memory). @default 1048576
   */
  clientBuffer?: number;
  /**
   * Milliseconds a client may read nothing while its answer's output is paused for it (`clientBuffer` is
   * full); past it that response ends (its body stream errors, counted as aborted, never as failed) and the
   * process is drained or replaced, as nginx's `send_timeout` does. A client that keeps reading is never cut.
   * `0`: no bound. @default 5000
   */
  clientTimeout?: number;
  /**
   * Every answer must carry the `Transform-Request-Id` of the message it answers. `false` accepts transforms
   * that never echo it, with ordering as the only check: a transform that answers twice can then hand one
   * request's answer to the next. @default true
   */
  requireRequestId?: boolean;
  /**
   * `'http'`: long-lived processes speaking HTTP/1.1 on stdin/stdout. `'body'`: one process per response, the
   * body on its stdin and the new body from its stdout, like Apache's mod_ext_filter, for any Unix filter
   * (`tr`, `sed`, `jq`); the request's method and URL are in `TRANSFORM_REQUEST_METHOD`/`TRANSFORM_REQUEST_URL`.
   * The filters are run by `processes` filter children (the pool's processes; four per core by default), one
   * at a time each, on filters they started ahead: the server never forks per response.
   * @default 'http'
   */
  protocol?: 'http' | 'body';
  /** With `protocol: 'body'`: the Content-Type of the filter's output (mod_ext_filter's `outtype`). @default the input's */
  outputType?: string;
  /** Transforms that may wait for a free process; past it, `ERR_TRANSFORM_QUEUE_FULL`. @default 1000 */
  maxQueue?: number;
  /** Retire a process after this many transforms. @default Infinity */
  maxRequestsPerProcess?: number;
  /** Called after each transform; returning true retires the process (after its current work). */
  recycle?: (info: RecycleInfo) => boolean | Promise<boolean>;
  /** Where the process's stderr goes; it is always drained. @default lines to console.error, `[transform <pid>]` first */
  stderr?: StderrOption;
  /**
   * Send `Transform-Request-Method` and `Transform-Request-Url` (true), nothing (false), or those plus
   * `Transform-Request-Header-<Name>` for each request header named. @default true
   */
  requestContext?: boolean | readonly string[];
  /** Bounds on the transform's output. @default { maxHeaderBytes: 65536, maxHeaderCount: 256, maxBodyBytes: Infinity } */
  limits?: Partial<WireLimits>;
  /**
   * Decode gzip, deflate and br bodies before the transform; false sends them encoded, and the selection of
   * `withTransform` and the Hono middleware then skips encoded responses. @default true
   */
  decode?: boolean;
  /** Keep a strong ETag and Last-Modified on transformed responses. @default false */
  preserveValidators?: boolean;
  /**
   * Hears every process event (spawn, exit and why, protocol errors, `Transform-Error` reasons, start
   * backoff). Given, the default lines on stderr stop. @default crashes, kills, errors and backoff, one line
   * each on stderr
   */
  onEvent?: (event: ProcessEvent) => void;
  /**
   * Files or folders (watched recursively) whose change reloads the processes, for a dev loop; each must exist
   * when the pool is made (relative paths are from the server's folder, as `process.cwd()`). After a burst
   * of saves (100 ms apart at most) new processes start, and the old ones keep serving until a new one has
   * answered; one that fails to start is logged with its stderr and the next save tries again. The watcher
   * keeps the parent alive until `close()`. With `protocol: 'body'` every response runs a new process
   * already, so nothing is watched. @default none
   */
  watch?: string | readonly string[];
}

/** The keys of {@link PoolSettings}, to refuse any other at run time. */
export const POOL_KEYS = Object.freeze([
  'command',
  'cwd',
  'env',
  'extendEnv',
  'uid',
  'gid',
  'processes',
  'pipeline',
  'timeout',
  'startTimeout',
  'clientBuffer',
  'clientTimeout',
  'requireRequestId',
  'protocol',
  'outputType',
  'maxQueue',
  'maxRequestsPerProcess',
  'recycle',
  'stderr',
  'requestContext',
  'limits',
  'decode',
  'preserveValidators',
  'onEvent',
  'watch',
] as const satisfies readonly (keyof PoolSettings)[]);

// A pool option added to the interface but not to the list fails to compile here.
const everyKeyListed: Exclude<keyof PoolSettings, (typeof POOL_KEYS)[number]> extends never ? true : never =
  true;
void everyKeyListed;

/** Defaults of {@link PoolSettings}. */
export const DEFAULTS = Object.freeze({
  pipeline: 4,
  timeout: 30_000,
  startTimeout: 30_000,
  ...SLOW_CLIENT_DEFAULTS,
  requireRequestId: true,
  maxQueue: 1000,
  maxRequestsPerProcess: Number.POSITIVE_INFINITY,
  requestContext: true,
  decode: true,
  preserveValidators: false,
} as const);

/** Options after validation, with defaults filled in. */
export interface ResolvedOptions {
  argv: [string, ...string[]];
  commandText: string;
  cwd: string | undefined;
  env: Record<string, string | undefined> | undefined;
  extendEnv: boolean;
  uid: number | undefined;
  gid: number | undefined;
  processes: number;
  /** The most messages a process that announced it frames by construction holds, or any process when set. */
  pipeline: number;
  /** `pipeline` was set: every process is trusted with it, announced or not. */
  pipelineSet: boolean;
  timeout: number;
  startTimeout: number;
  clientBuffer: number;
  clientTimeout: number;
  requireRequestId: boolean;
  maxQueue: number;
  maxRequestsPerProcess: number;
  recycle: PoolSettings['recycle'];
  stderr: StderrOption | undefined;
  contextHeaders: readonly string[] | undefined;
  limits: WireLimits;
  decode: boolean;
  preserveValidators: boolean;
  onEvent: ((event: ProcessEvent) => void) | undefined;
  watch: readonly string[] | undefined;
}

/** Most processes one pool may have: each holds three pipes, and a typo must not exhaust descriptors. */
const MAX_PROCESSES = 1024;

/** Most messages one process may hold: each holds a batch of its body while it is written. */
const MAX_PIPELINE = 1024;

/** A count from 1 to `max`, or `fallback` when not given. */
function validateBounded(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`Expected \`${name}\` to be a number, got ${describeValue(value)}`);
  }
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`Expected \`${name}\` to be an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}

/** Highest user and group id a process can have (32 bits, less the -1 that means "unchanged"). */
const MAX_ID = 2 ** 32 - 2;

function validateCwd(value: unknown): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  throw new TypeError(`Expected \`cwd\` to be a string, got ${describeValue(value)}`);
}

function validateEnv(value: unknown): Record<string, string | undefined> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`env\` to be an object of strings, got ${describeValue(value)}`);
  }
  for (const [name, variable] of Object.entries(value)) {
    if (variable !== undefined && typeof variable !== 'string') {
      throw new TypeError(`Expected \`env.${name}\` to be a string, got ${describeValue(variable)}`);
    }
    // The operating system cannot pass these: every spawn would fail, so the pool could never start.
    if (name === '' || name.includes('=') || name.includes('\0')) {
      throw new TypeError(`Expected \`env\` names without "=" or NUL bytes, got ${describeValue(name)}`);
    }
    if (variable?.includes('\0')) {
      throw new TypeError(`Expected \`env.${name}\` without NUL bytes, got ${describeValue(variable)}`);
    }
  }
  return value as Record<string, string | undefined>;
}

function validateBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw new TypeError(`Expected \`${name}\` to be a boolean, got ${describeValue(value)}`);
  return value;
}

function validateId(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value))
    throw new TypeError(`Expected \`${name}\` to be a number, got ${describeValue(value)}`);
  if (!Number.isInteger(value) || value < 0 || value > MAX_ID) {
    throw new RangeError(`Expected \`${name}\` to be an integer from 0 to ${MAX_ID}, got ${value}`);
  }
  return value;
}

function validateCount(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`Expected \`${name}\` to be a number, got ${describeValue(value)}`);
  }
  if (value < min || (value !== Number.POSITIVE_INFINITY && !Number.isInteger(value))) {
    throw new RangeError(`Expected \`${name}\` to be an integer of at least ${min}, got ${value}`);
  }
  return value;
}

function validateFunction<T>(name: string, value: T): T {
  if (value !== undefined && typeof value !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be a function, got ${describeValue(value)}`);
  }
  return value;
}

function validateRequestContext(value: unknown): readonly string[] | undefined {
  if (value === undefined || value === true) return [];
  if (value === false) return undefined;
  if (Array.isArray(value) && value.every((name) => typeof name === 'string'))
    return value.map((name) => name.toLowerCase());
  throw new TypeError(
    `Expected \`requestContext\` to be a boolean or a list of header names, got ${describeValue(value)}`,
  );
}

/**
 * Check the shape of pool options before any value: an object with no unknown key. `createTransformPool`
 * refuses selection options first, and `withTransform` and the middleware check their own object, so only
 * `createTransformPool` is named.
 *
 * @param options What the pool was given.
 */
function validatePoolSettings(options: unknown): asserts options is PoolSettings {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(
      `Expected the options of createTransformPool() to be an object such as { command: ['cat'] }, got ${describeValue(options)}`,
    );
  }
  validateKnownKeys(Object.keys(options), POOL_KEYS);
}

/** Validate options once, when a pool is made, so a request never pays for it. */
export function resolveOptions(options: PoolSettings): ResolvedOptions {
  validatePoolSettings(options);
  const argv = parseCommand(options.command);
  const timeout = validateTimeout(options.timeout === undefined ? DEFAULTS.timeout : options.timeout);
  const commandText = formatCommand(argv);
  const place = {
    cwd: validateCwd(options.cwd),
    env: validateEnv(options.env),
    extendEnv: validateBoolean('extendEnv', options.extendEnv, true),
  };
  const resolved: ResolvedOptions = {
    argv,
    commandText,
    ...place,
    uid: validateId('uid', options.uid),
    gid: validateId('gid', options.gid),
    processes: validateBounded(
      'processes',
      options.processes,
      Math.min(availableParallelism(), MAX_PROCESSES),
      MAX_PROCESSES,
    ),
    pipeline: validateBounded('pipeline', options.pipeline, DEFAULTS.pipeline, MAX_PIPELINE),
    pipelineSet: options.pipeline !== undefined,
    timeout,
    startTimeout:
      options.startTimeout === undefined
        ? Math.max(DEFAULTS.startTimeout, timeout)
        : validateTimeout(options.startTimeout, 'startTimeout'),
    clientBuffer: validateClientBuffer(options.clientBuffer),
    clientTimeout: validateClientTimeout(options.clientTimeout),
    requireRequestId: validateBoolean(
      'requireRequestId',
      options.requireRequestId,
      DEFAULTS.requireRequestId,
    ),
    maxQueue: validateCount('maxQueue', options.maxQueue, DEFAULTS.maxQueue, 0),
    maxRequestsPerProcess: validateCount(
      'maxRequestsPerProcess',
      options.maxRequestsPerProcess,
      DEFAULTS.maxRequestsPerProcess,
      1,
    ),
    recycle: validateFunction('recycle', options.recycle),
    stderr: validateStderr(options.stderr),
    contextHeaders: validateRequestContext(options.requestContext),
    limits: resolveLimits(options.limits),
    decode: validateBoolean('decode', options.decode, DEFAULTS.decode),
    preserveValidators: validateBoolean(
      'preserveValidators',
      options.preserveValidators,
      DEFAULTS.preserveValidators,
    ),
    onEvent: validateOnEvent(options.onEvent),
    watch: validateWatch(options.watch),
  };
  // Last: a wrong value is named first, and a typo in the program's name fails here, not on every request.
  assertRunnable(argv, commandText, place);
  return resolved;
}
