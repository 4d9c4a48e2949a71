import { describeValue } from '../util/describe-value.ts';

/** How a pool talks to its processes: `'http'` (long-lived, HTTP/1.1 on stdio) or `'body'` (one per response). */
export type Protocol = 'http' | 'body';

// RFC 9110 section 8.3.1: type "/" subtype, both tokens, then optional parameters.
const MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+(\s*;.*)?$/i;

/**
 * The `protocol` option, checked: `'http'` unless `'body'` is asked for.
 *
 * @param options The pool options.
 * @returns The protocol; throws a TypeError for any other value, or for `outputType` without `'body'`.
 */
export function getProtocol(options: { protocol?: unknown; outputType?: unknown }): Protocol {
  const { protocol } = options;
  if (protocol !== undefined && protocol !== 'http' && protocol !== 'body') {
    throw new TypeError(`Expected \`protocol\` to be 'http' or 'body', got ${describeValue(protocol)}`);
  }
  // An HTTP transform sets its own Content-Type: the option would be silently ignored.
  if (protocol !== 'body' && options.outputType !== undefined) {
    throw new TypeError("Expected `outputType` only with `protocol: 'body'`");
  }
  return protocol ?? 'http';
}

/** The `outputType` option: the Content-Type of a body filter's output, or undefined to keep the input's. */
export function validateOutputType(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !MEDIA_TYPE.test(value)) {
    throw new TypeError(
      `Expected \`outputType\` to be a media type such as text/html, got ${describeValue(value)}`,
    );
  }
  return value;
}
