import type { ResolvedOptions } from '../shared/pool-options.ts';
import { CHILD_MARKER, HEAD_LIMITS_VARIABLE } from '../wire/child-marker.ts';

/** The variable that carries a {@link FilterConfig} to the filter child, as JSON. */
export const FILTER_CONFIG_VARIABLE = 'SUBPROCESS_TRANSFORM_FILTER';

/**
 * The URL of the request the pool sends when a transform was given none: the filter then gets no request
 * variables, as before. `.invalid` is reserved (RFC 2606): no real request names it.
 */
export const NO_REQUEST_URL = 'http://no-request.invalid/';

/** What the filter child needs to run the user's filter: the options that concern the filter process. */
export interface FilterConfig {
  argv: [string, ...string[]];
  commandText: string;
  cwd?: string | undefined;
  env?: Record<string, string | undefined> | undefined;
  extendEnv: boolean;
  uid?: number | undefined;
  gid?: number | undefined;
  /** The request's method and URL go into the filter's environment. */
  context: boolean;
  /** The output's Content-Type; undefined keeps the input's. */
  outputType?: string | undefined;
  /** The longest silence on the filter's stdout while its output is wanted, in ms; 0 for none. */
  timeout: number;
}

/** The filter's part of the pool's options. */
export function getFilterConfig(options: ResolvedOptions, outputType: string | undefined): FilterConfig {
  return {
    argv: options.argv,
    commandText: options.commandText,
    cwd: options.cwd,
    env: options.env,
    extendEnv: options.extendEnv,
    uid: options.uid,
    gid: options.gid,
    context: options.contextHeaders !== undefined,
    outputType,
    // Infinity does not survive JSON.
    timeout: Number.isFinite(options.timeout) ? options.timeout : 0,
  };
}

/** The config the parent put in this process's environment; throws when there is none. */
export function readFilterConfig(env: NodeJS.ProcessEnv): FilterConfig {
  const text = env[FILTER_CONFIG_VARIABLE];
  if (text === undefined)
    throw new Error(`${FILTER_CONFIG_VARIABLE} is not set: this program is run by a pool`);
  return JSON.parse(text) as FilterConfig;
}

/**
 * The filter's environment: the child's own (the server's) unless `extendEnv` is false, then `env`, without
 * the variables meant for the child alone.
 */
export function getFilterEnv(config: FilterConfig, own: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...(config.extendEnv ? own : {}), ...config.env };
  if (config.extendEnv) {
    delete env[FILTER_CONFIG_VARIABLE];
    delete env[CHILD_MARKER];
    delete env[HEAD_LIMITS_VARIABLE];
  }
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  return env;
}
