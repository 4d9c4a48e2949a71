import { FilterPool } from '../filter/filter-pool.ts';
import { getProtocol } from '../filter/protocol.ts';
import { Pool } from '../pool/pool.ts';
import type { PoolSettings } from '../shared/pool-options.ts';
import type { TransformPool } from '../shared/transform-pool.ts';
import { describeValue } from '../util/describe-value.ts';
import { getSelectionKeys, SELECTION_KEYS, type SelectionOptions } from './selection-options.ts';

/**
 * The type of a selection option given to a pool: nothing is assignable to it, and its name is what the
 * compiler shows, so `contentType: 'text/html'` fails with "not assignable to type 'NotAPoolOption<"contentType">'".
 * Give selection options to `withTransform` or the Hono middleware, next to the pool: `{ pool, contentType }`.
 */
interface NotAPoolOption<Key extends string> {
  readonly selectionOption: Key;
  readonly giveItTo: 'withTransform or the Hono middleware, as { pool, ...selection }';
}

/** Makes each key of `T` one that may not be given (undefined aside), named in the compiler's message. */
type Forbidden<T> = { [K in keyof T]?: NotAPoolOption<K & string> };

/**
 * Options of `createTransformPool`: how to run the processes. A pool transforms whatever it is given, so the
 * selection options (`shouldTransform`, `contentType`, `afterTransform`, `onError`) are a compile error here;
 * give them to `withTransform` or the Hono middleware, with the pool as `{ pool, ...selection }`.
 */
export interface PoolOptions extends PoolSettings, Forbidden<SelectionOptions> {}

/**
 * A pool never selects: selection options given to it would be ignored, so they are refused. Checked here,
 * above the pools, since only this layer knows the selection options; the pool checks the rest.
 *
 * @param options What `createTransformPool` was given.
 * @returns The pool options alone (a selection key given as undefined, which the types allow, dropped).
 */
function getPoolSettings(options: PoolOptions): PoolSettings {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(
      `Expected the options of createTransformPool() to be an object such as { command: ['cat'] }, got ${describeValue(options)}`,
    );
  }
  const [key] = getSelectionKeys(options);
  if (key !== undefined) {
    throw new TypeError(
      `Expected pool options only, got \`${key}\`: selection belongs to withTransform or the Hono middleware, as \`{ pool, ${key} }\``,
    );
  }
  const settings: Record<string, unknown> = { ...options };
  for (const selectionKey of SELECTION_KEYS) delete settings[selectionKey];
  return settings as unknown as PoolSettings;
}

/**
 * Create a pool of long-lived transform processes. Processes start at once, so the first response meets a
 * warm one. A pool transforms every response it is given; share it between handlers with
 * `withTransform(handler, pool)`, or `withTransform(handler, { pool, contentType })` to select responses.
 *
 * @param options The command and how to run it: pool options only (selection options are a `TypeError`).
 * @returns The pool; `close()` it (or `await using` it) when done.
 * @example
 * ```ts
 * import { createTransformPool } from 'subprocess-transform';
 * await using pool = createTransformPool({ command: ['cat'], processes: 1 });
 * const response = await pool.transform(new Response('hello'));
 * console.log(await response.text()); // 'hello'
 * ```
 */
export function createTransformPool(options: PoolOptions): TransformPool {
  const settings = getPoolSettings(options);
  return getProtocol(settings) === 'body' ? new FilterPool(settings) : new Pool(settings);
}
