import type { TransformError } from '../shared/errors.ts';
import { describeValue } from '../util/describe-value.ts';
import { type ContentTypeMatcher, createSelector, type ShouldTransform } from './selector.ts';

/** What to do when a transform fails. */
export type OnError =
  | 'respond'
  | 'passthrough'
  | ((
      error: TransformError,
      request: Request | undefined,
      original: Response | undefined,
    ) => Response | Promise<Response>);

/**
 * Options that choose which responses go through a pool and what happens around it: taken by
 * `withTransform` and the Hono middleware, never by a pool (a pool always transforms what it is given).
 */
export interface SelectionOptions {
  /**
   * Which responses go through the transform (may be async).
   * @default all but 1xx, 204, 206, 304, HEAD requests, `Cache-Control: no-transform` and `text/event-stream`
   */
  shouldTransform?: ShouldTransform | undefined;
  /** Transform only responses of this media type (a string, a list, or a RegExp). @default any */
  contentType?: ContentTypeMatcher | undefined;
  /** May return a replacement for the transformed response. */
  afterTransform?:
    | ((
        response: Response,
        request: Request | undefined,
      ) => Response | undefined | Promise<Response | undefined>)
    | undefined;
  /**
   * On failure: `'respond'` with the error's status, `'passthrough'` the original response (when its body can
   * still be sent), or a function returning the response. @default 'respond'
   */
  onError?: OnError | undefined;
}

/** The keys of {@link SelectionOptions}, to tell them from pool options at run time. */
export const SELECTION_KEYS = Object.freeze([
  'shouldTransform',
  'contentType',
  'afterTransform',
  'onError',
] as const satisfies readonly (keyof SelectionOptions)[]);

// A selection option added to the interface but not to the list fails to compile here.
const everyKeyListed: Exclude<keyof SelectionOptions, (typeof SELECTION_KEYS)[number]> extends never
  ? true
  : never = true;
void everyKeyListed;

/** Selection options after validation. */
export interface Selection {
  select: ShouldTransform;
  afterTransform: SelectionOptions['afterTransform'];
  onError: OnError;
}

/** The selection keys given (not undefined) in `options`. */
export function getSelectionKeys(options: object): string[] {
  return SELECTION_KEYS.filter((key) => (options as Record<string, unknown>)[key] !== undefined);
}

function validateAfterTransform(value: unknown): SelectionOptions['afterTransform'] {
  if (value !== undefined && typeof value !== 'function') {
    throw new TypeError(`Expected \`afterTransform\` to be a function, got ${describeValue(value)}`);
  }
  return value as SelectionOptions['afterTransform'];
}

function validateOnError(value: unknown): OnError {
  if (value === undefined) return 'respond';
  if (value === 'respond' || value === 'passthrough' || typeof value === 'function') return value as OnError;
  throw new TypeError(
    `Expected \`onError\` to be 'respond', 'passthrough' or a function, got ${describeValue(value)}`,
  );
}

/**
 * Validate the selection options once, when the handler or middleware is made.
 *
 * @param options The selection options (other keys are ignored).
 * @param decode The pool's `decode`: when false, the selection skips encoded responses, which the pool
 * would send to the transform still encoded.
 */
export function resolveSelection(options: SelectionOptions, decode: boolean): Selection {
  return {
    select: createSelector(options, decode),
    afterTransform: validateAfterTransform(options.afterTransform),
    onError: validateOnError(options.onError),
  };
}
