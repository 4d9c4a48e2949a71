// The persistent side of bench/render.ts: a serveTransform child rendering each JSON page into an HTML table
// (the built package, as in identity-child.ts).
import { childLibrary } from './common.ts';
import { renderTable } from './render-table.mjs';

const { serveTransform } = (await childLibrary('child/index')) as typeof import('../src/child/index.ts');

await serveTransform(async (response) => {
  const html = renderTable((await response.json()) as Record<string, unknown>[]);
  return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8' } });
});
