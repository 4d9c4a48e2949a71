import { getConnectionTokens } from '../wire/fields.ts';
import { isNullBodyStatus } from '../wire/syntax.ts';

/** Options of {@link createProxyHandler}. */
export interface ProxyOptions {
  /** Base URL of the server to forward to; a request's path and query are appended to its path. */
  upstream: string | URL;
}

// RFC 9110 section 7.6.1: fields about one connection, never forwarded. Content-Length is kept on purpose:
// with it, fetch sends a streamed request body length-delimited, which servers without chunked support need.
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

// The content codings undici's fetch decodes on its own; any other coding leaves the body as sent.
const FETCH_DECODES = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

function removeHopByHop(headers: Headers): Headers {
  for (const name of getConnectionTokens(headers.get('connection'))) headers.delete(name);
  for (const name of HOP_BY_HOP) headers.delete(name);
  return headers;
}

/** Whether fetch decoded the body, so Content-Encoding and Content-Length describe bytes no longer there. */
function isDecodedByFetch(response: Response, method: string): boolean {
  const codings = (response.headers.get('content-encoding') ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  if (codings.length === 0 || method === 'HEAD' || isNullBodyStatus(response.status)) return false;
  return codings.every((coding) => FETCH_DECODES.has(coding));
}

function getTargetUrl(base: URL, request: Request): string {
  const { pathname, search } = new URL(request.url);
  return `${base.origin}${base.pathname.replace(/\/$/, '')}${pathname}${search}`;
}

function createBadGateway(): Response {
  return new Response('Bad gateway: the upstream server could not be reached\n', {
    status: 502,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
  });
}

/**
 * A fetch-style handler that forwards each request to `upstream` and returns its response as it is:
 * redirects are not followed, hop-by-hop fields are dropped both ways, and an unreachable upstream
 * answers 502.
 *
 * @param options The upstream base URL.
 * @returns The handler, to pass to `withTransform`.
 * @example
 * ```ts
 * const handler = withTransform(createProxyHandler({ upstream: 'http://127.0.0.1:8000' }), { command: 'cat' });
 * ```
 */
export function createProxyHandler(options: ProxyOptions): (request: Request) => Promise<Response> {
  const base = new URL(options.upstream);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new TypeError(`Expected \`upstream\` to be an http or https URL, got ${base.href}`);
  }
  return async function proxy(request) {
    const headers = removeHopByHop(new Headers(request.headers));
    const incoming = new URL(request.url);
    // fetch derives Host from the target; the name the client used travels in X-Forwarded-Host instead.
    headers.delete('host');
    headers.set('x-forwarded-host', incoming.host);
    headers.set('x-forwarded-proto', incoming.protocol.slice(0, -1));
    // Ask for the body unencoded: the transform needs plain bytes, and undici would decode a gzip or br body
    // anyway (compressing and decompressing on the same machine for nothing). A server that ignores this is
    // handled below.
    headers.set('accept-encoding', 'identity');
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
    let upstream: Response;
    try {
      upstream = await fetch(getTargetUrl(base, request), {
        method: request.method,
        headers,
        body: hasBody ? request.body : null,
        redirect: 'manual',
        signal: request.signal,
        duplex: 'half',
      } as RequestInit);
    } catch (error) {
      // The client left: nothing will be sent, so there is nothing to answer or log.
      if (request.signal.aborted) throw error;
      const cause = (error as { cause?: { message?: string } }).cause?.message ?? String(error);
      console.error(`subprocess-transform: upstream ${base.origin} failed: ${cause}`);
      return createBadGateway();
    }
    const responseHeaders = removeHopByHop(new Headers(upstream.headers));
    if (isDecodedByFetch(upstream, request.method)) {
      responseHeaders.delete('content-encoding');
      responseHeaders.delete('content-length');
    }
    return new Response(isNullBodyStatus(upstream.status) ? null : upstream.body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: responseHeaders,
    });
  };
}
