import type { TransformPool } from './transform-pool.ts';

/**
 * Marks a pool. A `Symbol.for` key, not `instanceof`: two copies of this package in one process (Deno,
 * monorepos, bundles) each have their own Pool class, and a pool from either must work with both.
 */
export const POOL_BRAND: unique symbol = Symbol.for('subprocess-transform.pool');

/**
 * The brand's value: what another copy of the package needs to know about a pool to select responses for
 * it, since it can reach the pool only through its public methods.
 */
export interface PoolBrand {
  /** The pool's `decode` option: when false, selection skips encoded responses. */
  readonly decode: boolean;
}

/**
 * Whether `value` is a pool made by `createTransformPool` (or by `withTransform`), from any copy of this
 * package.
 *
 * @param value Anything.
 * @returns True for a pool.
 * @example
 * ```ts
 * isTransformPool(createTransformPool({ command: 'cat' })); // true
 * isTransformPool({ command: 'cat' }); // false
 * ```
 */
export function isTransformPool(value: unknown): value is TransformPool {
  return typeof value === 'object' && value !== null && POOL_BRAND in value;
}

/** The pool's `decode`, as its brand says; a brand without it (another version) means the default, true. */
export function getPoolDecode(pool: TransformPool): boolean {
  const brand = (pool as unknown as Record<typeof POOL_BRAND, Partial<PoolBrand> | undefined>)[POOL_BRAND];
  return brand?.decode !== false;
}
