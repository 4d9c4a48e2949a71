import { WireError } from './errors.ts';
import { HTAB, isTokenByte, SP } from './syntax.ts';

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}

function syntaxError(message: string, offset: number): WireError {
  return new WireError('ERR_WIRE_SYNTAX', message, offset);
}

function skipWhitespace(bytes: Uint8Array, i: number, end: number): number {
  while (i < end && (bytes[i] === SP || bytes[i] === HTAB)) i++;
  return i;
}

function skipToken(bytes: Uint8Array, i: number, end: number): number {
  while (i < end && isTokenByte(bytes[i] as number)) i++;
  return i;
}

/** `quoted-string` (RFC 9110 section 5.6.4) starting at the opening quote; returns the index after it. */
function skipQuotedString(bytes: Uint8Array, i: number, end: number, base: number): number {
  for (i++; i < end; i++) {
    const byte = bytes[i] as number;
    if (byte === 0x22) return i + 1;
    // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ): the escaped byte is no CTL either (RFC 9110 5.6.4).
    if (byte === 0x5c && i + 1 < end) i++;
    const checked = bytes[i] as number;
    if (checked !== HTAB && (checked < 0x20 || checked === 0x7f)) break;
  }
  throw syntaxError('Invalid chunk extension: unterminated quoted string', base + Math.min(i, end));
}

/**
 * `chunk-size [ chunk-ext ] CRLF` (RFC 9112 section 7.1): returns the size. Extensions are checked against
 * the grammar and ignored; sizes are hex and must fit in a safe integer.
 */
export function parseChunkSizeLine(bytes: Uint8Array, start: number, end: number, base: number): number {
  let size = 0;
  let i = start;
  for (; i < end; i++) {
    const digit = hexValue(bytes[i] as number);
    if (digit === -1) break;
    size = size * 16 + digit;
    if (size > Number.MAX_SAFE_INTEGER) throw syntaxError('Chunk size too large', base + i);
  }
  if (i === start) throw syntaxError('Invalid chunk size: expected hex digits', base + start);
  // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
  while (i < end) {
    i = skipWhitespace(bytes, i, end);
    if (bytes[i] !== 0x3b)
      throw syntaxError('Invalid chunk size line: expected ";" or the end of the line', base + i);
    i = skipWhitespace(bytes, i + 1, end);
    const nameEnd = skipToken(bytes, i, end);
    if (nameEnd === i) throw syntaxError('Invalid chunk extension: expected a name', base + i);
    i = skipWhitespace(bytes, nameEnd, end);
    if (i < end && bytes[i] === 0x3d) {
      i = skipWhitespace(bytes, i + 1, end);
      if (bytes[i] === 0x22) i = skipQuotedString(bytes, i, end, base);
      else {
        const valueEnd = skipToken(bytes, i, end);
        if (valueEnd === i) throw syntaxError('Invalid chunk extension: expected a value', base + i);
        i = valueEnd;
      }
    }
  }
  return size;
}
