// The demo's /pool page: the transform processes at work, live. `/api/pool` is the pool's stats() as JSON;
// `/pool` is a page whose inline script polls it every second and redraws one row per process (pid, state,
// transforms) with the pool's counters and latency percentiles. Two buttons make something happen: a burst
// of page renders (processes go busy, counts rise) and a reload (old processes retire, fresh ones start).
import type { Hono } from 'hono';
import type { TransformPool } from '../src/index.ts';

/** How often the page asks for fresh stats, in ms. */
const REFRESH_MS = 1000;
/** Pages rendered by one press of the burst button, all at once. */
const BURST = 40;

/** Mount `/pool` and `/api/pool` on `site`; `getPool` is called per request, so the pool may come later. */
export function addPoolRoutes(site: Hono, getPool: () => TransformPool): void {
  site.get('/api/pool', (c) => c.json(getPool().stats()));
  site.post('/api/pool/reload', async (c) => {
    await getPool().reload();
    return c.json(getPool().stats());
  });
  site.get('/pool', (c) => c.html(POOL_HTML));
}

const POOL_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Transform pool</title>
<noscript><meta http-equiv="refresh" content="2"></noscript>
<style>
:root { color-scheme: light dark; --line: #8883; --muted: #888; --accent: #2563eb; }
body { font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; max-width: 48rem; margin: 2rem auto;
  padding: 0 1rem; }
nav { font-size: .875rem; color: var(--muted); }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; margin-bottom: 1.5rem; }
th, td { padding: .375rem .75rem; text-align: left; border-bottom: 1px solid var(--line); }
th { font-size: .8125rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.num { text-align: right; }
.state { display: inline-block; min-width: 5rem; padding: 0 .5rem; border-radius: .25rem; text-align: center; }
.idle { background: #16a34a22; } .busy { background: #f59e0b33; } .starting { background: #2563eb22; }
.retiring { background: #8883; }
dl { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: .25rem 1rem; }
dt { font-size: .8125rem; color: var(--muted); } dd { margin: 0 0 .5rem; font-variant-numeric: tabular-nums; }
button { font: inherit; padding: .25rem .75rem; margin-right: .5rem; }
#status { color: var(--muted); font-size: .875rem; }
</style>
</head>
<body>
<nav><a href="/">Home</a></nav>
<h1>Transform pool</h1>
<p>The long-lived <code>render.ts</code> processes behind the HTML pages, refreshed every second from
<a href="/api/pool">/api/pool</a>.</p>
<p><button id="burst">Render /planets ${BURST} times</button><button id="reload">Reload processes</button>
<span id="status">Loading…</span></p>
<h2>Processes</h2>
<table>
<thead><tr><th class="num">pid</th><th>state</th><th class="num">transforms</th><th class="num">up</th></tr></thead>
<tbody id="processes"></tbody>
</table>
<h2>Latency, ms <small>(last <span id="count">0</span> transforms)</small></h2>
<dl id="latency"></dl>
<h2>Counters</h2>
<dl id="counters"></dl>
<script type="module">
const $ = (id) => document.getElementById(id);
const cell = (text, className = '') => {
  const td = document.createElement('td');
  td.className = className;
  td.textContent = text;
  return td;
};
const list = (target, entries) =>
  target.replaceChildren(...entries.flatMap(([name, value]) => {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = name;
    dd.textContent = value;
    return [dt, dd];
  }));
const ms = (value) => value.toFixed(value < 10 ? 2 : 0);

function draw(stats) {
  const now = Date.now();
  $('processes').replaceChildren(...stats.processes.map((process) => {
    const row = document.createElement('tr');
    const state = cell('');
    const badge = document.createElement('span');
    badge.className = 'state ' + process.state;
    badge.textContent = process.state;
    state.append(badge);
    const up = Math.max(0, Math.round((now - process.startedAt) / 1000));
    row.append(cell(String(process.pid), 'num'), state, cell(String(process.transforms), 'num'), cell(up + ' s', 'num'));
    return row;
  }));
  const { latency } = stats;
  $('count').textContent = String(latency.count);
  list($('latency'), [['p50', ms(latency.p50)], ['p95', ms(latency.p95)], ['p99', ms(latency.p99)],
    ['max', ms(latency.max)], ['mean', ms(latency.mean)]]);
  list($('counters'), ['alive', 'busy', 'idle', 'queued', 'started', 'restarted', 'exited', 'ok', 'failed',
    'timedOut'].map((name) => [name, String(stats[name])]));
}

async function refresh() {
  try {
    const response = await fetch('/api/pool', { cache: 'no-store' });
    draw(await response.json());
    $('status').textContent = 'Updated ' + new Date().toLocaleTimeString();
  } catch (error) {
    $('status').textContent = 'Cannot reach the server: ' + error.message;
  }
}

$('burst').onclick = async () => {
  const renders = Array.from({ length: ${BURST} }, () => fetch('/planets').then((response) => response.text()));
  setTimeout(refresh, 50); // while they run
  await Promise.allSettled(renders);
  await refresh();
};
$('reload').onclick = async () => {
  const reloading = fetch('/api/pool/reload', { method: 'POST' });
  setTimeout(refresh, 50);
  await reloading;
  await refresh();
};

await refresh();
setInterval(refresh, ${REFRESH_MS});
</script>
</body>
</html>
`;
