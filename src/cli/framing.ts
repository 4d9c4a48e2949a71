import type { IncomingMessage } from 'node:http';

/**
 * How a request's body is framed, as the client sent it (RFC 9112 section 6): the upstream gets the same
 * framing with the same bytes, whatever the method. A `Content-Length` without its bytes would make a keep-alive
 * upstream read the next request on the connection as this one's body (request smuggling).
 */
export type RequestFraming =
  | { kind: 'none' }
  | { kind: 'length'; length: string }
  | { kind: 'chunked' }
  | { kind: 'refused'; reason: string };

// RFC 9110 section 9.3: these methods define no meaning for a body. A server may answer them without reading
// one (Python's http.server does for GET), and then reads the body as the next request on the connection.
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE']);

/**
 * The framing of `request`'s body. node:http has already refused what RFC 9112 forbids (both fields, a bad
 * length); a transfer coding other than `chunked` alone is refused here, as the proxy forwards only the bytes.
 *
 * @param request The request as the handler got it.
 * @param incoming node:http's message, when the server is node:http: its stream holds the body of any method.
 * @returns The framing to forward, or `refused` with a reason for the client's 400.
 * @example
 * ```ts
 * getRequestFraming(new Request('http://x/', { method: 'POST', body: 'hi' }), undefined); // { kind: 'chunked' }
 * ```
 */
export function getRequestFraming(request: Request, incoming: IncomingMessage | undefined): RequestFraming {
  const encoding = request.headers.get('transfer-encoding');
  const length = request.headers.get('content-length');
  if (encoding !== null) {
    if (encoding.trim().toLowerCase() !== 'chunked') {
      return { kind: 'refused', reason: `Transfer-Encoding "${encoding}" is not forwarded, only chunked` };
    }
    return { kind: 'chunked' };
  }
  if (length !== null) {
    // A fetch Request cannot carry a GET or HEAD body: without node:http's stream, the bytes are not there.
    if (incoming === undefined && request.body === null && length !== '0') {
      return { kind: 'refused', reason: `a ${request.method} body cannot be forwarded here` };
    }
    return { kind: 'length', length };
  }
  return incoming === undefined && request.body !== null ? { kind: 'chunked' } : { kind: 'none' };
}

/**
 * The framing fields the upstream gets. A body on a method that defines none also closes the upstream
 * connection after this request, so an upstream that ignores such a body cannot read it as a request.
 *
 * @param method The request method.
 * @param framing From {@link getRequestFraming}, not `refused`.
 * @returns Fields to set on the upstream request.
 * @example
 * ```ts
 * getFramingHeaders('GET', { kind: 'length', length: '5' }); // { 'content-length': '5', connection: 'close' }
 * ```
 */
export function getFramingHeaders(
  method: string,
  framing: Exclude<RequestFraming, { kind: 'refused' }>,
): Record<string, string> {
  const headers: Record<string, string> =
    framing.kind === 'length'
      ? { 'content-length': framing.length }
      : framing.kind === 'chunked'
        ? // Set by hand: node:http sends the body of a GET unframed unless told to chunk it.
          { 'transfer-encoding': 'chunked' }
        : {};
  const hasBody = framing.kind === 'chunked' || (framing.kind === 'length' && framing.length !== '0');
  if (hasBody && BODYLESS_METHODS.has(method)) headers.connection = 'close';
  return headers;
}
