import { describeValue } from '../util/describe-value.ts';
import { validateKnownKeys } from '../util/known-keys.ts';

/** Bounds on what a parser buffers or accepts from one message. */
export interface WireLimits {
  /**
   * Largest head (status line, fields and the blank line) or trailer section, in bytes.
   * @default 65536
   */
  maxHeaderBytes: number;
  /**
   * Most fields in a head or trailer section.
   * @default 256
   */
  maxHeaderCount: number;
  /**
   * Largest body, in bytes.
   * @default Infinity
   */
  maxBodyBytes: number;
}

export const DEFAULT_LIMITS: Readonly<WireLimits> = Object.freeze({
  maxHeaderBytes: 64 * 1024,
  maxHeaderCount: 256,
  maxBodyBytes: Number.POSITIVE_INFINITY,
});

/** A chunk-size line with its extensions; nobody needs more (llhttp allows far less). */
export const MAX_CHUNK_LINE_BYTES = 4096;

/** Resolve and validate `limits`, naming the option in the error. */
export function resolveLimits(limits: Partial<WireLimits> | undefined): WireLimits {
  if (limits === undefined) return DEFAULT_LIMITS;
  if (typeof limits !== 'object' || limits === null) {
    throw new TypeError(`Expected \`limits\` to be an object, got ${describeValue(limits)}`);
  }
  validateKnownKeys(Object.keys(limits), Object.keys(DEFAULT_LIMITS), 'limits.');
  const resolved = { ...DEFAULT_LIMITS, ...limits };
  for (const key of ['maxHeaderBytes', 'maxHeaderCount', 'maxBodyBytes'] as const) {
    const value = resolved[key];
    if (typeof value !== 'number' || Number.isNaN(value)) {
      throw new TypeError(`Expected \`limits.${key}\` to be a number, got ${describeValue(value)}`);
    }
    if (value < 1 || (value !== Number.POSITIVE_INFINITY && !Number.isInteger(value))) {
      throw new RangeError(`Expected \`limits.${key}\` to be a positive integer, got ${value}`);
    }
  }
  return resolved;
}
