// The persistent side of bench/render.ts: a serveTransform child rendering each JSON page into an HTML table.
import { serveTransform } from '../src/child/index.ts';
import { renderTable } from './render-table.mjs';

await serveTransform(async (response) => {
  const html = renderTable((await response.json()) as Record<string, unknown>[]);
  return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8' } });
});
