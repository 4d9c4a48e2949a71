// The render both sides of bench/render.ts run: a JSON array of row objects in, an HTML table out, text escaped.
// Plain JavaScript so that `node render-table.mjs` (one process per response, reading stdin) starts as fast as a
// real `node render.js` would.
import { fileURLToPath } from 'node:url';

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (value) => String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);

export function renderTable(rows) {
  const columns = Object.keys(rows[0] ?? {});
  const head = columns.map((column) => `<th>${escapeHtml(column)}</th>`).join('');
  const body = rows
    .map((row) => `<tr>${columns.map((column) => `<td>${escapeHtml(row[column])}</td>`).join('')}</tr>`)
    .join('\n');
  return `<!doctype html><title>rows</title><table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  process.stdout.write(renderTable(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
}
