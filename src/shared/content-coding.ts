import { Duplex } from 'node:stream';
import { createBrotliDecompress } from 'node:zlib';

const SUPPORTED = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

function createDecoder(coding: string): ReadableWritablePair<Uint8Array, Uint8Array> {
  if (coding === 'br') {
    // DecompressionStream has no Brotli on Node 20; zlib has it on Node, Bun and Deno.
    return Duplex.toWeb(createBrotliDecompress()) as ReadableWritablePair<Uint8Array, Uint8Array>;
  }
  const format = coding === 'x-gzip' ? 'gzip' : (coding as CompressionFormat);
  return new DecompressionStream(format) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>;
}

/**
 * Undo a `gzip`, `deflate` or `br` Content-Encoding so the transform sees bytes it can read. A response with
 * no coding, or a coding this cannot undo, is returned as it is: the transform then sees the coded bytes and
 * the Content-Encoding field that names them.
 */
export function decodeContent(response: Response): Response {
  const header = response.headers.get('content-encoding');
  if (header === null || response.body === null) return response;
  const codings = header
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  if (codings.length === 0 || !codings.every((coding) => SUPPORTED.has(coding))) return response;
  let body: ReadableStream<Uint8Array> = response.body;
  // Codings are listed in the order they were applied (RFC 9110 section 8.4): undo from the last.
  for (const coding of codings.reverse()) body = body.pipeThrough(createDecoder(coding));
  const headers = new Headers(response.headers);
  headers.delete('content-encoding');
  headers.delete('content-length');
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}

/** Whether the body has a content coding other than identity. */
export function isEncoded(response: Response): boolean {
  const coding = response.headers.get('content-encoding');
  return coding !== null && coding.trim().toLowerCase() !== 'identity' && coding.trim() !== '';
}
