// examples/render.js
import { serveTransform } from 'subprocess-transform/child';

const escapeHtml = (text) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

await serveTransform(async (response, { request }) => {
  const data = await response.json();
  const title = escapeHtml(new URL(request.url).pathname);
  const html = `<h1>${title}</h1><pre>${escapeHtml(JSON.stringify(data, null, 2))}</pre>`;
  return new Response(html, { status: response.status, headers: { 'content-type': 'text/html' } });
});
