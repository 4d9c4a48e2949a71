/** Stable codes of {@link WireError}. */
export type WireErrorCode =
  /** The bytes break the HTTP/1.1 grammar or this protocol's framing rules. */
  | 'ERR_WIRE_SYNTAX'
  /** A head, field count or body went past a configured limit. */
  | 'ERR_WIRE_LIMIT'
  /** The stream ended in the middle of a message. */
  | 'ERR_WIRE_INCOMPLETE';

/**
 * A message on the wire could not be trusted. `offset` is the index of the offending byte from the start of
 * the stream, so a transform author can find it in a capture.
 *
 * @example
 * ```ts
 * try {
 *   for await (const response of parseResponses(stdout)) await handle(response);
 * } catch (error) {
 *   if (error instanceof WireError) console.error(error.code, 'at byte', error.offset);
 * }
 * ```
 */
export class WireError extends SyntaxError {
  override readonly name = 'WireError';
  readonly code: WireErrorCode;
  readonly offset: number;

  constructor(code: WireErrorCode, message: string, offset: number) {
    super(`${message} (at byte ${offset})`);
    this.code = code;
    this.offset = offset;
  }
}
