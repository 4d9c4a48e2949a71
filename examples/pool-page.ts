// The demo's /pool page: the transform processes at work, live. `/api/pool` is the pool's stats() as JSON;
// `/pool` is a page rendered on the server from stats(), so its first paint already shows one row per
// process (pid, state, transforms) with the pool's counters and latency percentiles. Its inline script then
// fetches `/pool` again every second and swaps in the fresh parts: one renderer, here, for both. Two buttons
// make something happen: a burst of page renders (processes go busy, counts rise) and a reload (old
// processes retire, fresh ones start). A chart shows requests per second and p95 latency (pool-chart.ts).
import type { Hono } from 'hono';
import type { PoolStats, TransformPool } from '../src/index.ts';
import { recordHistory, renderChart, type Sample } from './pool-chart.ts';

/** How often the page asks for a fresh copy of itself, in ms. */
const REFRESH_MS = 1000;
/** Pages rendered by one press of the burst button, all at once. */
const BURST = 40;
/** The elements the script replaces on each refresh, by id. */
const LIVE_IDS = ['status', 'processes', 'count', 'latency', 'counters', 'failures', 'chart'];
/**
 * What each state means on the page. A process is `starting` in stats() until its first answer, since only an
 * answer shows it started: one that waits for its first transform (after a reload, say) has not been used yet.
 */
const STATE_LABELS: Record<string, string> = {
  starting: 'not used yet',
  idle: 'idle',
  busy: 'busy',
  retiring: 'retiring',
};
const COUNTERS = [
  'alive',
  'busy',
  'idle',
  'starting',
  'queued',
  'started',
  'restarted',
  'exited',
  'ok',
  'failed',
  'aborted',
  'timedOut',
  'backoffs',
] as const;

/** Mount `/pool` and `/api/pool` on `site`; `getPool` is called per request, so the pool may come later. */
export function addPoolRoutes(site: Hono, getPool: () => TransformPool): void {
  const history = recordHistory(() => getPool().stats());
  site.get('/api/pool', (c) => c.json(getPool().stats()));
  site.post('/api/pool/reload', async (c) => {
    await getPool().reload();
    return c.json(getPool().stats());
  });
  site.get('/pool', (c) => {
    c.header('Cache-Control', 'no-store');
    return c.html(renderPoolPage(getPool().stats(), Date.now(), history()));
  });
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
const ms = (value: number): string => value.toFixed(value < 10 ? 2 : 0);

function renderList(id: string, entries: [string, string][]): string {
  const items = entries.map(([name, value]) => `<dt>${escapeHtml(name)}</dt><dd>${escapeHtml(value)}</dd>`);
  return `<dl id="${id}">${items.join('')}</dl>`;
}

function renderProcesses(stats: PoolStats, now: number): string {
  const rows = stats.processes.map(({ pid, state, transforms, startedAt }) => {
    const up = Math.max(0, Math.round((now - startedAt) / 1000));
    const label = STATE_LABELS[state] ?? state;
    const badge = `<span class="state ${escapeHtml(state)}" data-state="${escapeHtml(state)}">${escapeHtml(label)}</span>`;
    return `<tr><td class="num">${pid}</td><td>${badge}</td><td class="num">${transforms}</td><td class="num">${up} s</td></tr>`;
  });
  return `<tbody id="processes">${rows.join('\n')}</tbody>`;
}

/** Failures by code, the counters an operator alerts on; "none" when there were none. */
function renderFailures(stats: PoolStats): string {
  const entries = Object.entries(stats.failedByCode).filter(([, count]) => count > 0);
  const items = entries.map(([code, count]) => `<li><code>${escapeHtml(code)}</code>: ${count}</li>`);
  return `<ul id="failures">${items.length > 0 ? items.join('') : '<li>none</li>'}</ul>`;
}

/** The whole page for one snapshot of the pool, taken at `now` (ms since the epoch), with its recent history. */
export function renderPoolPage(stats: PoolStats, now: number, history: Sample[] = []): string {
  const { latency } = stats;
  const time = new Date(now).toISOString().slice(11, 19);
  const percentiles: [string, string][] = [
    ['p50', ms(latency.p50)],
    ['p95', ms(latency.p95)],
    ['p99', ms(latency.p99)],
    ['max', ms(latency.max)],
    ['mean', ms(latency.mean)],
  ];
  const counters = COUNTERS.map((name): [string, string] => [name, String(stats[name])]);
  // Backing off: processes keep failing at start, and new ones wait before they are started.
  counters.push(['backingOff', stats.backingOff ? 'yes' : 'no']);
  return `<!doctype html>
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
#chart { margin-bottom: 1.5rem; } #chart .axis { stroke: var(--line); fill: var(--muted); font-size: 11px; }
#chart polyline { stroke-width: 2; } #chart .rate { stroke: var(--accent); fill: var(--accent); font-size: 12px; }
#chart .p95 { stroke: #f59e0b; fill: #f59e0b; font-size: 12px; } #chart polyline.rate, #chart polyline.p95 { fill: none; }
</style>
</head>
<body>
<nav><a href="/">Home</a></nav>
<h1>Transform pool</h1>
<p>The long-lived <code>render.ts</code> processes behind the HTML pages, refreshed every second (as JSON:
<a href="/api/pool">/api/pool</a>).</p>
<p><button id="burst">Render /planets ${BURST} times</button><button id="reload">Reload processes</button>
<span id="status">Updated ${time} UTC</span></p>
<h2>Processes</h2>
<table>
<thead><tr><th class="num">pid</th><th>state</th><th class="num">transforms</th><th class="num">up</th></tr></thead>
${renderProcesses(stats, now)}
</table>
<p><small><i>not used yet</i>: started, waiting for its first transform (only an answer shows that a
process has started).</small></p>
<h2>Requests per second and p95 latency</h2>
${renderChart(history)}
<h2>Latency, ms <small>(last <span id="count">${latency.count}</span> transforms)</small></h2>
${renderList('latency', percentiles)}
<h2>Counters</h2>
${renderList('counters', counters)}
<h2>Failures by code</h2>
${renderFailures(stats)}
<script type="module">
// The server renders the page; this swaps in the parts that change from a fresh copy of it.
const LIVE_IDS = ${JSON.stringify(LIVE_IDS)};

async function refresh() {
  try {
    const response = await fetch('/pool', { cache: 'no-store' });
    const page = new DOMParser().parseFromString(await response.text(), 'text/html');
    for (const id of LIVE_IDS) {
      const fresh = page.getElementById(id);
      if (fresh) document.getElementById(id).replaceWith(fresh);
    }
    document.documentElement.dataset.refreshed = String(Number(document.documentElement.dataset.refreshed ?? 0) + 1);
  } catch (error) {
    document.getElementById('status').textContent = 'Cannot reach the server: ' + error.message;
  }
}

document.getElementById('burst').onclick = async () => {
  const renders = Array.from({ length: ${BURST} }, () => fetch('/planets').then((response) => response.text()));
  setTimeout(refresh, 50); // while they run
  await Promise.allSettled(renders);
  await refresh();
};
document.getElementById('reload').onclick = async () => {
  const reloading = fetch('/api/pool/reload', { method: 'POST' });
  setTimeout(refresh, 50);
  await reloading;
  await refresh();
};

setInterval(refresh, ${REFRESH_MS});
</script>
</body>
</html>
`;
}
