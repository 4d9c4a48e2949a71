// A transform program: turns JSON responses into an HTML page. The server runs a few of these, each kept alive
// and reused, and sends every selected response through one of them (see examples/app.ts):
//
//   withTransform(app.fetch, { command: ['node', '--import', 'tsx', 'examples/render.ts'] })
//
// An array of objects becomes a table, an object a definition list, anything else a short list or paragraph.
// Status and headers are kept; only the body and its Content-Type change. Anything that is not JSON passes
// through unchanged. In a published app, import from 'subprocess-transform/child'.
import { serveTransform, type TransformContext } from '../src/child/index.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The transform: called once per response, in order; its result goes back to the server. */
async function render(response: Response, { request }: TransformContext): Promise<Response> {
  if (!isJson(response.headers.get('content-type'))) return response;
  // Read the text first, so a body that only claims to be JSON can still go out unchanged.
  const text = await response.text();
  let data: Json;
  try {
    data = JSON.parse(text);
  } catch {
    return new Response(text, response);
  }

  const headers = new Headers(response.headers);
  headers.delete('content-length'); // the new body has its own length: the library frames it
  headers.set('content-type', 'text/html; charset=utf-8');
  headers.set('x-rendered-by', 'subprocess-transform');
  const html = renderPage(new URL(request.url), response, data);
  return new Response(html, { status: response.status, statusText: response.statusText, headers });
}

/** `application/json`, and `+json` types such as `application/problem+json`. */
function isJson(contentType: string | null): boolean {
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return mediaType === 'application/json' || mediaType.endsWith('+json');
}

function renderPage(url: URL, response: Response, data: Json): string {
  const segments = url.pathname.split('/').filter(Boolean).map(decodeSegment);
  const heading = toTitle(segments.at(-1) ?? 'Home');
  const title = segments.map(toTitle).join(' › ') || heading;
  const status = response.ok
    ? ''
    : `\n<p class="status">${response.status} ${escapeHtml(response.statusText)}</p>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<nav>${renderBreadcrumbs(segments)}</nav>
<h1>${escapeHtml(heading)}</h1>${status}
${renderValue(data)}
</body>
</html>
`;
}

/** The page's top level: the shape of the data picks the layout. */
function renderValue(data: Json): string {
  if (Array.isArray(data) && data.length > 0 && data.every(isObject)) return renderTable(data);
  if (Array.isArray(data)) return `<ul>${data.map((item) => `<li>${renderCell(item)}</li>`).join('')}</ul>`;
  if (isObject(data)) return renderDefinitions(data);
  return `<p>${renderCell(data)}</p>`;
}

/** One column per key, in order of first appearance; columns holding only numbers are right-aligned. */
function renderTable(rows: JsonObject[]): string {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const numeric = new Set(
    columns.filter((key) => rows.every((row) => row[key] == null || typeof row[key] === 'number')),
  );
  const align = (key: string): string => (numeric.has(key) ? ' class="num"' : '');
  const head = columns.map((key) => `<th${align(key)}>${escapeHtml(toTitle(key))}</th>`).join('');
  const body = rows
    .map(
      (row) => `<tr>${columns.map((key) => `<td${align(key)}>${renderCell(row[key])}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function renderDefinitions(object: JsonObject): string {
  const items = Object.entries(object).map(
    ([key, value]) => `<dt>${escapeHtml(toTitle(key))}</dt><dd>${renderCell(value)}</dd>`,
  );
  return `<dl>\n${items.join('\n')}\n</dl>`;
}

/** One value, on one line: nested arrays and objects are shown compactly, as short JSON. */
function renderCell(value: Json | undefined): string {
  if (value === undefined || value === null) return '<span class="none">—</span>';
  if (typeof value === 'number') return escapeHtml(value.toLocaleString('en-US'));
  if (typeof value === 'string') return isLink(value) ? renderLink(value) : escapeHtml(value);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (Array.isArray(value) && value.every((item) => typeof item !== 'object' || item === null)) {
    return escapeHtml(value.map((item) => String(item)).join(', '));
  }
  const json = JSON.stringify(value);
  return `<code title="${escapeHtml(json)}">${escapeHtml(truncate(json, 80))}</code>`;
}

/** Site paths and http(s) URLs become links; nothing else (no `javascript:`), and `//host` is not a path. */
function isLink(value: string): boolean {
  return /^\/(?!\/)\S*$/.test(value) || /^https?:\/\/\S+$/i.test(value);
}

function renderLink(href: string): string {
  return `<a href="${escapeHtml(href)}">${escapeHtml(href)}</a>`;
}

function renderBreadcrumbs(segments: string[]): string {
  const links = ['<a href="/">Home</a>'];
  let path = '';
  for (const segment of segments.slice(0, -1)) {
    path += `/${encodeURIComponent(segment)}`;
    links.push(`<a href="${escapeHtml(path)}">${escapeHtml(toTitle(segment))}</a>`);
  }
  return links.join(' / ');
}

/** `orbital_period` or `orbitalPeriod` → `Orbital period`. */
function toTitle(key: string): string {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function isObject(value: Json): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Every value that reaches the page goes through here: the JSON may come from anyone. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

const STYLE = `
:root { color-scheme: light dark; --line: #8883; --zebra: #8881; --muted: #888; --accent: #2563eb; }
body { font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; max-width: 60rem;
  margin: 2rem auto; padding: 0 1rem; }
nav { font-size: .875rem; color: var(--muted); }
a { color: var(--accent); }
h1 { font-size: 1.75rem; margin: .25rem 0 1rem; }
.status { display: inline-block; padding: .125rem .5rem; border-radius: .25rem; background: #dc26261a;
  color: #dc2626; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: .5rem .75rem; text-align: left; border-bottom: 1px solid var(--line); }
th { font-size: .8125rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
tbody tr:nth-child(even) { background: var(--zebra); }
.num { text-align: right; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .5rem 1.5rem; max-width: 40rem; }
dt { font-weight: 600; }
dd { margin: 0; font-variant-numeric: tabular-nums; }
code { font-size: .875em; }
.none { color: var(--muted); }
`;

// Serve until the server closes our stdin. Last, so everything above is defined before the first response.
await serveTransform(render);
