import { WireError } from './errors.ts';
import {
  COLON,
  decodeLatin1,
  findInvalidValueByte,
  findNonToken,
  HTAB,
  isNullBodyStatus,
  SP,
} from './syntax.ts';

const VERSION = 'HTTP/1.1 ';

/** A parsed status line. */
export interface StatusLine {
  status: number;
  statusText: string;
}

function syntaxError(message: string, offset: number): WireError {
  return new WireError('ERR_WIRE_SYNTAX', message, offset);
}

/**
 * `status-line = HTTP-version SP status-code SP [ reason-phrase ]` (RFC 9112 section 4), the last SP
 * optional when there is no reason, for the line in `bytes[start, end)` without its CRLF. `base` is the
 * stream offset of `bytes[0]`, for error messages.
 */
export function parseStatusLine(bytes: Uint8Array, start: number, end: number, base: number): StatusLine {
  for (let i = 0; i < VERSION.length; i++) {
    if (bytes[start + i] !== VERSION.charCodeAt(i)) {
      const prefix = decodeLatin1(bytes, start, Math.min(end, start + 12));
      throw syntaxError(
        `Invalid status line: expected "HTTP/1.1 ", got ${JSON.stringify(prefix)}`,
        base + start + i,
      );
    }
  }
  const codeStart = start + VERSION.length;
  let status = 0;
  for (let i = codeStart; i < codeStart + 3; i++) {
    const digit = (bytes[i] ?? -1) - 0x30;
    if (i >= end || digit < 0 || digit > 9) {
      throw syntaxError('Invalid status line: expected a 3-digit status code', base + i);
    }
    status = status * 10 + digit;
  }
  const after = codeStart + 3;
  // RFC 9112 section 4 asks for the SP even before an empty reason, but Go, Python, curl and llhttp accept
  // `HTTP/1.1 204` without it, and nothing about framing depends on it: the line may end right here.
  if (after < end && bytes[after] !== SP) {
    throw syntaxError('Invalid status line: expected a space after the status code', base + after);
  }
  const reasonStart = Math.min(after + 1, end);
  const invalid = findInvalidValueByte(bytes, reasonStart, end);
  if (invalid !== -1)
    throw syntaxError('Invalid status line: control character in the reason phrase', base + invalid);
  if (status < 100 || status > 599) {
    throw syntaxError(`Invalid status code ${status}: expected 200 to 599`, base + codeStart);
  }
  // An interim response would let a transform answer twice for one message (RFC 9110 section 15.2).
  if (status < 200) {
    throw syntaxError(
      `Unexpected interim response ${status}: a transform sends one final response`,
      base + codeStart,
    );
  }
  return { status, statusText: decodeLatin1(bytes, reasonStart, end) };
}

/** A field line: `name` lower-cased, `value` without surrounding whitespace. */
export interface FieldLine {
  name: string;
  value: string;
}

/** `field-line = field-name ":" OWS field-value OWS` (RFC 9112 section 5), strict. */
export function parseFieldLine(bytes: Uint8Array, start: number, end: number, base: number): FieldLine {
  const first = bytes[start];
  // Line folding was deprecated and must be rejected outside of message/http (RFC 9112 section 5.2).
  if (first === SP || first === HTAB)
    throw syntaxError('Invalid field line: obsolete line folding', base + start);
  const colon = bytes.indexOf(COLON, start);
  if (colon === -1 || colon >= end) throw syntaxError('Invalid field line: no colon', base + start);
  if (colon === start) throw syntaxError('Invalid field line: empty field name', base + start);
  const badName = findNonToken(bytes, start, colon);
  if (badName !== -1) {
    const byte = bytes[badName];
    // No whitespace is allowed between the field name and the colon (RFC 9112 section 5.1).
    const what =
      byte === SP || byte === HTAB ? 'whitespace before the colon' : 'invalid character in field name';
    throw syntaxError(`Invalid field line: ${what}`, base + badName);
  }
  let valueStart = colon + 1;
  let valueEnd = end;
  while (valueStart < valueEnd && (bytes[valueStart] === SP || bytes[valueStart] === HTAB)) valueStart++;
  while (valueEnd > valueStart && (bytes[valueEnd - 1] === SP || bytes[valueEnd - 1] === HTAB)) valueEnd--;
  const badValue = findInvalidValueByte(bytes, valueStart, valueEnd);
  if (badValue !== -1) throw syntaxError('Invalid field value: control character', base + badValue);
  return {
    name: decodeLatin1(bytes, start, colon).toLowerCase(),
    value: decodeLatin1(bytes, valueStart, valueEnd),
  };
}

/** How a message body is delimited (RFC 9112 section 6.3). */
export type BodyFraming =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  | { kind: 'close' };

/** The framing-relevant fields of a head, gathered while its lines are parsed. */
export interface FramingFields {
  contentLength: string | undefined;
  transferEncoding: string | undefined;
  connectionClose: boolean;
}

const DIGITS = /^[0-9]{1,15}$/;

/**
 * Decide where the body ends. Stricter than a general client: a shared pipe has no end to read to, so a
 * message must carry a length, be chunked, or announce `Connection: close`.
 */
export function getBodyFraming(status: number, fields: FramingFields, offset: number): BodyFraming {
  const { contentLength, transferEncoding, connectionClose } = fields;
  if (contentLength !== undefined && !DIGITS.test(contentLength)) {
    throw syntaxError(`Invalid Content-Length ${JSON.stringify(contentLength)}`, offset);
  }
  if (transferEncoding !== undefined && transferEncoding.toLowerCase() !== 'chunked') {
    throw syntaxError(
      `Unsupported Transfer-Encoding ${JSON.stringify(transferEncoding)}: only "chunked"`,
      offset,
    );
  }
  // Both at once is how requests get smuggled; RFC 9112 section 6.3 lets a recipient refuse it.
  if (contentLength !== undefined && transferEncoding !== undefined) {
    throw syntaxError('Both Content-Length and Transfer-Encoding', offset);
  }
  if (isNullBodyStatus(status)) {
    // 304 may state the selected representation's length; 204 and 205 may only state zero (RFC 9110 8.6).
    if (
      transferEncoding !== undefined ||
      (status !== 304 && contentLength !== undefined && Number(contentLength) !== 0)
    ) {
      throw syntaxError(`A ${status} response cannot have content`, offset);
    }
    return { kind: 'none' };
  }
  if (transferEncoding !== undefined) return { kind: 'chunked' };
  if (contentLength !== undefined) return { kind: 'length', length: Number(contentLength) };
  if (connectionClose) return { kind: 'close' };
  throw syntaxError('No Content-Length, no chunked Transfer-Encoding and no Connection: close', offset);
}
