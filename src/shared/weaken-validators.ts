/**
 * A transformed body is a different representation: a strong ETag would promise byte-identity it no longer
 * has (RFC 9110 section 8.8.3), so it is weakened, and Last-Modified is dropped. `preserveValidators` keeps both.
 */
export function weakenValidators(headers: Headers): void {
  const etag = headers.get('etag');
  if (etag !== null && !etag.startsWith('W/')) headers.set('etag', `W/${etag}`);
  headers.delete('last-modified');
}
