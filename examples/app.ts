// The demo app: a plain Hono JSON API, and the same JSON again under page URLs, which withTransform sends
// through examples/render.ts to become HTML. The app itself knows nothing about HTML rendering.
import { fileURLToPath } from 'node:url';
import { type Context, Hono } from 'hono';
import { withTransform } from '../src/index.ts';
import { addPoolRoutes } from './pool-page.ts';

interface Planet {
  name: string;
  /** Mean radius, km. */
  radiusKm: number;
  /** Mass relative to Earth's. */
  massEarths: number;
  /** Days for one orbit of the Sun. */
  orbitDays: number;
  moons: number;
  page: string;
}

function createPlanet(
  name: string,
  radiusKm: number,
  massEarths: number,
  orbitDays: number,
  moons: number,
): Planet {
  return { name, radiusKm, massEarths, orbitDays, moons, page: `/planets/${name.toLowerCase()}` };
}

export const planets: readonly Planet[] = [
  createPlanet('Mercury', 2440, 0.055, 88, 0),
  createPlanet('Venus', 6052, 0.815, 224.7, 0),
  createPlanet('Earth', 6371, 1, 365.2, 1),
  createPlanet('Mars', 3390, 0.107, 687, 2),
  createPlanet('Jupiter', 69_911, 317.8, 4331, 95),
  createPlanet('Saturn', 58_232, 95.2, 10_747, 146),
  createPlanet('Uranus', 25_362, 14.5, 30_589, 28),
  createPlanet('Neptune', 24_622, 17.1, 59_800, 16),
];

// Handlers return JSON only; each is mounted twice, under /api (raw JSON) and under a page path (rendered).
function listPlanets(c: Context): Response {
  return c.json(planets);
}

function getPlanet(c: Context): Response {
  const name = c.req.param('name')?.toLowerCase();
  const planet = planets.find((item) => item.name.toLowerCase() === name);
  if (planet === undefined) return c.json({ error: 'No such planet', name: name ?? '' }, 404);
  return c.json(planet);
}

function getStats(c: Context): Response {
  const largest = planets.reduce((a, b) => (b.radiusKm > a.radiusKm ? b : a));
  return c.json({
    planets: planets.length,
    moons: planets.reduce((sum, planet) => sum + planet.moons, 0),
    largest: largest.name,
    totalMassEarths: Math.round(planets.reduce((sum, planet) => sum + planet.massEarths, 0) * 100) / 100,
  });
}

const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>subprocess-transform demo</title>
<style>
body { font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; max-width: 40rem; margin: 2rem auto;
  padding: 0 1rem; }
code { font-size: .875em; }
</style>
</head>
<body>
<h1>subprocess-transform demo</h1>
<p>Every page below is JSON from a Hono handler, turned into HTML by a long-lived transform process
(<code>examples/render.ts</code>). The <code>/api</code> links show the same JSON untouched.</p>
<h2>Pages</h2>
<ul>
<li><a href="/planets">/planets</a>: a table</li>
<li><a href="/planets/earth">/planets/earth</a>: a definition list</li>
<li><a href="/planets/pluto">/planets/pluto</a>: a 404, rendered too</li>
<li><a href="/stats">/stats</a>: planet figures</li>
</ul>
<h2>The transform processes</h2>
<ul>
<li><a href="/pool">/pool</a>: the pool at work, live: each process's pid, state and transforms, and latency</li>
</ul>
<h2>Raw JSON</h2>
<ul>
<li><a href="/api/planets">/api/planets</a></li>
<li><a href="/api/planets/earth">/api/planets/earth</a></li>
<li><a href="/api/stats">/api/stats</a></li>
</ul>
</body>
</html>
`;

/** The app, untransformed: JSON under /api and under the page paths, and an HTML index. */
export const app = new Hono();
app.get('/', (c) => c.html(INDEX_HTML));
for (const prefix of ['/api', '']) {
  app.get(`${prefix}/planets`, listPlanets);
  app.get(`${prefix}/planets/:name`, getPlanet);
  app.get(`${prefix}/stats`, getStats);
}

/**
 * Transform JSON responses, except under /api. Giving `shouldTransform` replaces the default skip list, so
 * the cases it covers that can happen here are repeated: HEAD requests and bodiless 204 and 304 responses.
 */
function shouldRender(response: Response, request: Request | undefined): boolean {
  if (request === undefined || request.method === 'HEAD') return false;
  if (response.status === 204 || response.status === 304) return false;
  return !new URL(request.url).pathname.startsWith('/api/');
}

/**
 * The app's fetch handler wrapped with the transform: JSON page responses are rendered by two reused
 * `render.ts` processes, and `/pool` shows those processes at work. Call `handler.pool.close()` when done.
 */
export function createDemoHandler() {
  const site = new Hono();
  // The pool page reads the handler's pool, made just below, when it is asked for.
  addPoolRoutes(site, () => handler.pool);
  site.route('/', app);
  const handler = withTransform(site.fetch, {
    command: [process.execPath, '--import', 'tsx', fileURLToPath(new URL('./render.ts', import.meta.url))],
    processes: 2,
    contentType: 'application/json',
    shouldTransform: shouldRender,
  });
  return handler;
}
