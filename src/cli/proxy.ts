import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { getConnectionTokens, isHopByHop } from '../wire/fields.ts';
import { isNullBodyStatus } from '../wire/syntax.ts';
import { getFramingHeaders, getRequestFraming, type RequestFraming } from './framing.ts';

/** Options of {@link createProxyHandler}. */
export interface ProxyOptions {
  /** Base URL of the server to forward to; a request's path and query are appended to its path. */
  upstream: string | URL;
  /** nginx's `proxy_read_timeout`: ms of silence from the upstream before giving up (504); 0 for none. */
  upstreamTimeout?: number | undefined;
}

/** What `@hono/node-server` passes as a handler's second argument: the node:http objects of the request. */
export interface NodeBindings {
  incoming: IncomingMessage;
}

/** Responses the proxy made itself (a refused request, upstream down or silent): sent as they are, never transformed. */
const ownResponses = new WeakSet<Response>();

/**
 * Whether `response` is the proxy's own error answer rather than the upstream's, so it must skip the transform.
 *
 * @param response A response returned by the proxy handler.
 * @returns True for the proxy's 400, 502 and 504 answers.
 * @example
 * ```ts
 * withTransform(proxy, { command: 'cat', shouldTransform: (r, q) => !isProxyError(r) && isTransformable(r, q) });
 * ```
 */
export function isProxyError(response: Response): boolean {
  return ownResponses.has(response);
}

/**
 * Drop the fields about one connection (RFC 9110 section 7.6.1), and those its `Connection` field names.
 * Content-Length stays: a passed response keeps its length (a HEAD answer's too), and a request gets the
 * framing fields of its body from getFramingHeaders.
 */
function removeHopByHop(headers: Headers): Headers {
  for (const name of getConnectionTokens(headers.get('connection'))) headers.delete(name);
  for (const name of [...headers.keys()]) {
    if (isHopByHop(name) && name !== 'content-length') headers.delete(name);
  }
  return headers;
}

function getTargetUrl(base: URL, request: Request): URL {
  const { pathname, search } = new URL(request.url);
  return new URL(`${base.origin}${base.pathname.replace(/\/$/, '')}${pathname}${search}`);
}

function createOwnError(status: 400 | 502 | 504, text: string): Response {
  const response = new Response(text, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
  });
  ownResponses.add(response);
  return response;
}

/** The request's fields as the upstream gets them: what nginx's usual `proxy_set_header` lines add. */
function getUpstreamHeaders(
  request: Request,
  node: NodeBindings | undefined,
  framing: Exclude<RequestFraming, { kind: 'refused' }>,
): Record<string, string> {
  const headers = removeHopByHop(new Headers(request.headers));
  headers.delete('content-length');
  for (const [name, value] of Object.entries(getFramingHeaders(request.method, framing)))
    headers.set(name, value);
  const incoming = new URL(request.url);
  // node:http derives Host from the target; the name the client used travels in X-Forwarded-Host instead.
  headers.delete('host');
  // node:http answered the client's 100-continue itself; the upstream gets the body without asking.
  headers.delete('expect');
  headers.set('x-forwarded-host', incoming.host);
  headers.set('x-forwarded-proto', incoming.protocol.slice(0, -1));
  const address = node?.incoming.socket.remoteAddress;
  if (address !== undefined) {
    const sent = headers.get('x-forwarded-for');
    headers.set('x-forwarded-for', sent ? `${sent}, ${address}` : address);
  }
  // Ask for the body unencoded: the transform needs plain bytes (the pool decodes an encoded one anyway).
  headers.set('accept-encoding', 'identity');
  return Object.fromEntries(headers);
}

function toResponse(upstream: IncomingMessage, method: string): Response {
  const headers = new Headers();
  for (let i = 0; i < upstream.rawHeaders.length; i += 2) {
    headers.append(upstream.rawHeaders[i] as string, upstream.rawHeaders[i + 1] as string);
  }
  const status = upstream.statusCode ?? 502;
  const hasBody = method !== 'HEAD' && !isNullBodyStatus(status);
  if (!hasBody) upstream.resume();
  return new Response(hasBody ? (Readable.toWeb(upstream) as ReadableStream<Uint8Array>) : null, {
    status,
    statusText: upstream.statusMessage,
    headers: removeHopByHop(headers),
  });
}

// node:http, not fetch: Node's fetch throws on `Expect`, and a body streamed through it stayed as garbage until
// a full GC (+327 MiB RSS for a 300 MB upload). Piping the client's IncomingMessage into a ClientRequest keeps
// the 200 MiB upload of test/cli/upstream.test.ts at +36 MiB peak RSS above the proxy's start (limit: 64 MiB).
// The body goes whatever the method: node:http's stream holds it for a GET too, where the Request has none.
function sendBody(
  request: Request,
  node: NodeBindings | undefined,
  framing: RequestFraming,
  outgoing: ClientRequest,
): void {
  if (framing.kind === 'none') outgoing.end();
  else if (node !== undefined) node.incoming.pipe(outgoing);
  else if (request.body !== null) Readable.fromWeb(request.body as never).pipe(outgoing);
  else outgoing.end();
}

/**
 * A fetch-style handler that forwards each request to `upstream` and returns its response as it is:
 * redirects are not followed, hop-by-hop fields are dropped both ways, `X-Forwarded-For`/`-Proto`/`-Host` are
 * set, a request body goes with the framing the client gave it (or the request is refused with 400), an
 * unreachable upstream answers 502 and a silent one 504 (see {@link isProxyError}).
 *
 * @param options The upstream base URL and read timeout.
 * @returns The handler, to pass to `withTransform`; give it `@hono/node-server`'s bindings as second argument.
 * @example
 * ```ts
 * const handler = withTransform(createProxyHandler({ upstream: 'http://127.0.0.1:8000' }), { command: 'cat' });
 * ```
 */
export function createProxyHandler(
  options: ProxyOptions,
): (request: Request, node?: NodeBindings) => Promise<Response> {
  const base = new URL(options.upstream);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new TypeError(`Expected \`upstream\` to be an http or https URL, got ${base.href}`);
  }
  const send = base.protocol === 'https:' ? httpsRequest : httpRequest;
  const timeout = options.upstreamTimeout ?? 0;
  return async function proxy(request, node) {
    const framing = getRequestFraming(request, node?.incoming);
    if (framing.kind === 'refused') {
      return createOwnError(400, `Bad request: ${framing.reason}\n`);
    }
    return new Promise<Response>((resolve, reject) => {
      const outgoing = send(getTargetUrl(base, request), {
        method: request.method,
        headers: getUpstreamHeaders(request, node, framing),
        signal: request.signal,
        timeout,
      });
      let timedOut = false;
      outgoing.on('timeout', () => {
        timedOut = true;
        outgoing.destroy(new Error(`no data from the upstream for ${timeout} ms`));
      });
      outgoing.once('response', (upstream) => resolve(toResponse(upstream, request.method)));
      outgoing.on('error', (error) => {
        // The client left: nothing will be sent, so there is nothing to answer or log.
        if (request.signal.aborted) return reject(error);
        console.error(`subprocess-transform: upstream ${base.origin} failed: ${error.message}`);
        resolve(
          timedOut
            ? createOwnError(504, 'Gateway timeout: the upstream server did not answer in time\n')
            : createOwnError(502, 'Bad gateway: the upstream server could not be reached\n'),
        );
      });
      sendBody(request, node, framing, outgoing);
    });
  };
}
