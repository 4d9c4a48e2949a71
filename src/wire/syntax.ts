// Byte classes and Latin-1 text helpers for HTTP/1.1 heads (RFC 9110 section 5.6, RFC 9112 section 5).

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;

/** `tchar` of RFC 9110 section 5.6.2: the bytes allowed in a field name or token. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;

/** `field-vchar / SP / HTAB` of RFC 9110 section 5.5, obs-text included: no CTL but HTAB, no DEL. */
const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[HTAB] = 1;
for (let c = 0x20; c <= 0xff; c++) FIELD_VALUE[c] = c === 0x7f ? 0 : 1;

export function isTokenByte(byte: number): boolean {
  return TOKEN[byte] === 1;
}

/** Index of the first byte in `[start, end)` that is not a token byte, or -1. */
export function findNonToken(bytes: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) if (TOKEN[bytes[i] as number] !== 1) return i;
  return -1;
}

/** Index of the first byte in `[start, end)` that may not appear in a field value, or -1. */
export function findInvalidValueByte(bytes: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) if (FIELD_VALUE[bytes[i] as number] !== 1) return i;
  return -1;
}

/** Decode bytes one to one (ISO-8859-1), so obs-text survives as the same code points `Headers` accepts. */
export function decodeLatin1(bytes: Uint8Array, start: number, end: number): string {
  let text = '';
  // String.fromCharCode takes its arguments on the stack: go in slices.
  for (let i = start; i < end; i += 4096) {
    text += String.fromCharCode.apply(
      null,
      bytes.subarray(i, Math.min(end, i + 4096)) as unknown as number[],
    );
  }
  return text;
}

/** Encode text whose code points are all below 256 (what `Headers` holds) one byte each. */
export function encodeLatin1(text: string, into: Uint8Array, offset: number): number {
  for (let i = 0; i < text.length; i++) into[offset + i] = text.charCodeAt(i);
  return offset + text.length;
}

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  204: 'No Content',
  205: 'Reset Content',
  206: 'Partial Content',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The standard reason phrase for a status, used when a Response has no statusText. */
export function getReasonPhrase(status: number): string {
  return REASONS[status] ?? '';
}

/** Statuses whose responses never have content (RFC 9110 sections 15.3.5, 15.4.5; 205 by Fetch). */
export function isNullBodyStatus(status: number): boolean {
  return status === 204 || status === 205 || status === 304;
}
