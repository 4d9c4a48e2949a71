import { isEncoded } from '../shared/content-coding.ts';
import { describeValue } from '../util/describe-value.ts';

/** Decides whether a response goes through the transform. */
export type ShouldTransform = (
  response: Response,
  request: Request | undefined,
) => boolean | Promise<boolean>;

/** A media type, a list of them, or a pattern, matched against the response's media type. */
export type ContentTypeMatcher = string | readonly string[] | RegExp;

/** The response's media type, lower-cased, without parameters: `text/html; charset=utf-8` → `text/html`. */
function getMediaType(response: Response): string {
  const value = response.headers.get('content-type') ?? '';
  const semicolon = value.indexOf(';');
  return (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
}

/**
 * The default selection: every response but those a transform must not or cannot change: interim and
 * switching responses, 204, 206 (a byte range of something else), 304, answers to HEAD (no body to
 * transform), `Cache-Control: no-transform` (RFC 9111 section 5.2.2.6) and event streams (never end).
 *
 * @param response The handler's response.
 * @param request The request it answers, if known.
 * @returns Whether the response may go through the transform.
 * @example
 * ```ts
 * // Keep the defaults and add a rule of your own:
 * withTransform(app.fetch, {
 *   command: ['node', 'render.js'],
 *   shouldTransform: (response, request) =>
 *     isTransformable(response, request) && !new URL(request?.url ?? 'http://x/').pathname.startsWith('/api/'),
 * });
 * ```
 */
export function isTransformable(response: Response, request: Request | undefined): boolean {
  const { status } = response;
  if (status < 200 || status === 204 || status === 206 || status === 304) return false;
  if (request?.method === 'HEAD') return false;
  if (/(^|,)\s*no-transform\s*(,|$)/i.test(response.headers.get('cache-control') ?? '')) return false;
  return getMediaType(response) !== 'text/event-stream';
}

/** Check `contentType` and compile it to a predicate. */
function compileContentType(matcher: ContentTypeMatcher): (mediaType: string) => boolean {
  if (matcher instanceof RegExp) return (mediaType) => matcher.test(mediaType);
  const list = typeof matcher === 'string' ? [matcher] : matcher;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) {
    throw new TypeError(
      `Expected \`contentType\` to be a string, a list of strings or a RegExp, got ${describeValue(matcher)}`,
    );
  }
  const types = new Set(list.map((type) => type.trim().toLowerCase()));
  return (mediaType) => types.has(mediaType);
}

/**
 * Build the selector once, so a request pays only for the checks configured.
 *
 * @param options `shouldTransform` (replaces the default rules) and `contentType` (narrows them).
 * @param decode The pool's `decode`: when false, encoded responses are skipped, as the pool would send them
 * to the transform still encoded.
 */
export function createSelector(
  options: { shouldTransform?: ShouldTransform | undefined; contentType?: ContentTypeMatcher | undefined },
  decode: boolean,
): ShouldTransform {
  const { shouldTransform, contentType } = options;
  if (shouldTransform !== undefined && typeof shouldTransform !== 'function') {
    throw new TypeError(
      `Expected \`shouldTransform\` to be a function, got ${describeValue(shouldTransform)}`,
    );
  }
  const matchesType = contentType === undefined ? undefined : compileContentType(contentType);
  const base = shouldTransform ?? isTransformable;
  return function select(response, request) {
    if (matchesType !== undefined && !matchesType(getMediaType(response))) return false;
    if (!decode && isEncoded(response)) return false;
    return base(response, request);
  };
}
