import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Pool } from '../pool/pool.ts';
import { POOL_BRAND, type PoolBrand } from '../shared/brand.ts';
import { TransformError, type TransformErrorCode } from '../shared/errors.ts';
import { ProcessEventSink } from '../shared/events.ts';
import { type PoolSettings, type ResolvedOptions, resolveOptions } from '../shared/pool-options.ts';
import type { PoolStats } from '../shared/stats.ts';
import type { TransformInit, TransformPool } from '../shared/transform-pool.ts';
import { FILTER_CONFIG_VARIABLE, getFilterConfig, NO_REQUEST_URL } from './config.ts';
import { type FilterFailure, parseFailure } from './failure.ts';
import { validateOutputType } from './protocol.ts';
import { FilterEventRelay } from './relay.ts';

/**
 * Filter children per core when `processes` is not set. A child spends most of a response waiting for its
 * filter (its exec, its work, its exit), on other processes' time: with one per core the cores idle, and 32
 * responses at once ran no faster than a spawn per response (bench/filter.ts). Each child holds about 15 MB
 * of its own; the default stops at MAX_DEFAULT_CHILDREN.
 */
const CHILDREN_PER_CORE = 4;
const MAX_DEFAULT_CHILDREN = 64;

/** How much longer than `timeout` the pool waits for a filter child: the child times its filter out first. */
const CHILD_TIMEOUT_MARGIN_MS = 1000;

/**
 * The filter child's argv, run on the runtime the server runs on: the built `child.js` from dist/, or from
 * source the `.ts` file (with tsx on a Node that cannot strip types: tests under Node 20).
 */
function getChildCommand(): string[] {
  const source = import.meta.url.endsWith('.ts');
  const path = fileURLToPath(new URL(source ? './child.ts' : './child.js', import.meta.url));
  if ('Deno' in globalThis) return [process.execPath, 'run', '-A', path];
  const stripsTypes = (process.features as { typescript?: unknown }).typescript !== undefined;
  if (source && process.versions.bun === undefined && !stripsTypes) {
    return [process.execPath, '--import', 'tsx', path];
  }
  return [process.execPath, path];
}

/** The error a filter run in the server would have made, from the failure the filter child reported. */
function toFilterError(
  failure: FilterFailure,
  options: ResolvedOptions,
  stderr: string | undefined,
): TransformError {
  const who = `Body filter "${options.commandText}"${failure.pid === undefined ? '' : ` (pid ${failure.pid})`}`;
  const details = { command: options.commandText, pid: failure.pid, stderr };
  switch (failure.kind) {
    case 'spawn':
      return new TransformError(
        'ERR_TRANSFORM_SPAWN',
        `${who} could not be started: ${failure.cause}`,
        details,
      );
    case 'timeout':
      return new TransformError(
        'ERR_TRANSFORM_TIMEOUT',
        `${who} was silent on stdout for ${options.timeout} ms`,
        details,
      );
    case 'exit': {
      const how =
        failure.signal !== undefined
          ? `was killed with ${failure.signal}`
          : `exited with code ${failure.code}`;
      return new TransformError('ERR_TRANSFORM_EXIT', `${who} ${how}`, {
        ...details,
        exitCode: failure.code,
        signal: failure.signal,
      });
    }
  }
}

/**
 * Options the filter pool sets for its children itself: the filter's own process options travel to the child
 * in its config, and the child runs on the server's environment, folder and user.
 */
const OWN_KEYS: ReadonlySet<string> = new Set([
  'command',
  'protocol',
  'outputType',
  'cwd',
  'env',
  'extendEnv',
  'uid',
  'gid',
  'timeout',
  'onEvent',
  'pipeline',
  'stderr',
  // A filter is a fresh process per response: nothing to reload when a file changes.
  'watch',
]);

/** The options that apply to the pool of children as they are (processes, queue, limits, decoding...). */
function getSharedSettings(settings: PoolSettings): Omit<PoolSettings, 'command'> {
  return Object.fromEntries(Object.entries(settings).filter(([key]) => !OWN_KEYS.has(key)));
}

const FAILURE_MESSAGE = /could not transform the response: (.*)$/;

/**
 * The pool of `protocol: 'body'`, like Apache's mod_ext_filter but without a fork in the server per
 * response: an ordinary pool whose processes are filter children (`child.ts`), each running the user's filter
 * once per response on filters it started ahead. `processes` children (four per core unless set) run one
 * filter each at a time, which caps the filters at work. A filter's failure comes back as `Transform-Error` and is turned into the error
 * and event it always was.
 */
export class FilterPool implements TransformPool {
  readonly [POOL_BRAND]: PoolBrand;
  readonly #options: ResolvedOptions;
  readonly #pool: Pool;
  readonly #relay: FilterEventRelay;
  /** Failures the inner pool counted as `ERR_TRANSFORM_FAILED` that were a filter's own, by their real code. */
  readonly #mapped = new Map<TransformErrorCode, number>();

  constructor(settings: PoolSettings) {
    const options = resolveOptions(settings);
    this.#options = options;
    this.#relay = new FilterEventRelay(
      new ProcessEventSink(options.onEvent),
      options.commandText,
      options.stderr,
      options.timeout,
    );
    const config = getFilterConfig(options, validateOutputType(settings.outputType));
    const childTimeout = Number.isFinite(options.timeout) ? options.timeout + CHILD_TIMEOUT_MARGIN_MS : 0;
    this.#pool = new Pool(
      {
        ...getSharedSettings(settings),
        command: getChildCommand(),
        env: { [FILTER_CONFIG_VARIABLE]: JSON.stringify(config) },
        processes:
          settings.processes ?? Math.min(CHILDREN_PER_CORE * availableParallelism(), MAX_DEFAULT_CHILDREN),
        // One filter per child at a time: `processes` is the cap on filters at work, as it always was.
        pipeline: 1,
        timeout: childTimeout,
        onEvent: this.#relay.onEvent,
        stderr: this.#relay.onLine,
      },
      // Spans name the user's filter, not the child that runs it.
      {
        command: options.commandText,
        protocol: 'body',
        codeOf: (error) => (this.#mapFailure(error) as { code?: string } | undefined)?.code,
      },
    );
    this[POOL_BRAND] = Object.freeze({ decode: options.decode });
  }

  async transform(response: Response, init?: TransformInit): Promise<Response> {
    try {
      // Without a request the filter gets no request variables: the child is told so.
      const request = init?.request ?? new Request(NO_REQUEST_URL);
      return await this.#pool.transform(response, { ...init, request });
    } catch (error) {
      throw this.#toFilterError(error);
    }
  }

  stats(): PoolStats {
    const stats = this.#pool.stats();
    const failedByCode = { ...stats.failedByCode };
    let timedOut = stats.timedOut;
    for (const [code, count] of this.#mapped) {
      failedByCode.ERR_TRANSFORM_FAILED = (failedByCode.ERR_TRANSFORM_FAILED ?? 0) - count;
      failedByCode[code] = (failedByCode[code] ?? 0) + count;
      if (code === 'ERR_TRANSFORM_TIMEOUT') timedOut += count;
    }
    if (failedByCode.ERR_TRANSFORM_FAILED === 0) delete failedByCode.ERR_TRANSFORM_FAILED;
    return { ...stats, failedByCode, timedOut };
  }

  reload(): Promise<void> {
    return this.#pool.reload();
  }

  close(options?: { timeout?: number }): Promise<void> {
    return this.#pool.close(options);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The error the caller gets, counted by its real code when it was a filter's own failure. */
  #toFilterError(error: unknown): unknown {
    const mapped = this.#mapFailure(error);
    if (mapped !== error && mapped instanceof TransformError) {
      this.#mapped.set(mapped.code, (this.#mapped.get(mapped.code) ?? 0) + 1);
    }
    return mapped;
  }

  /** A filter's failure, told by its child as `Transform-Error`, as the error a filter run in the server made. */
  #mapFailure(error: unknown): unknown {
    if (!(error instanceof TransformError)) return error;
    const failure =
      error.code === 'ERR_TRANSFORM_FAILED'
        ? parseFailure(FAILURE_MESSAGE.exec(error.message)?.[1] ?? '')
        : undefined;
    return failure === undefined ? error : toFilterError(failure, this.#options, error.stderr);
  }
}
