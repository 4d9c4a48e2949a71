// The serveTransform child for Node, as plain JavaScript (no loader, fast start): the same transform as
// child.ts.
import { serveTransform } from 'subprocess-transform/child';

const runtime = `node ${process.versions.node}`;

await serveTransform(async (response) => {
  const headers = new Headers(response.headers);
  headers.set('x-transform', runtime);
  const text = response.headers.get('content-type')?.startsWith('text/plain') ?? false;
  const body = text ? (await response.text()).toUpperCase() : response.body;
  return new Response(body, { status: response.status, headers });
});
