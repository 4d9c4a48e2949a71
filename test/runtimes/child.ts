// A serveTransform child for Bun and Deno: upper-cases text, streams bytes through unchanged, and names the
// runtime it runs under in X-Transform.
import { serveTransform } from 'subprocess-transform/child';

const runtime =
  typeof Deno !== 'undefined' ? `deno ${Deno.version.deno}` : `bun ${process.versions.bun ?? '(not bun)'}`;

await serveTransform(async (response) => {
  const headers = new Headers(response.headers);
  headers.set('x-transform', runtime);
  const text = response.headers.get('content-type')?.startsWith('text/plain') ?? false;
  const body = text ? (await response.text()).toUpperCase() : response.body;
  return new Response(body, { status: response.status, headers });
});
