// Row 3 of issue #8: a JSON page of 300 rows rendered into an HTML table by a persistent serveTransform child,
// against `node render-table.mjs` started for each response (what mod_ext_filter does), the same render in
// both. Ratio = per-response time / persistent time; target at least 50x. ROUNDS, ITERATIONS, SPAWNS.
import { execa } from 'execa';
import { createTransformPool } from '../src/index.ts';
import { alternate, median, report, round, roundEach, setting, tsCommand } from './common.ts';
import { pipelineOption } from './pipeline.ts';
import { renderTable } from './render-table.mjs';

const ROUNDS = setting('ROUNDS', 3, 3);
const ITERATIONS = setting('ITERATIONS', 200, 10);
const SPAWNS = setting('SPAWNS', 10, 2);

const rows = Array.from({ length: 300 }, (_, i) => ({
  id: i,
  name: `Customer ${i}`,
  email: `customer${i}@example.com`,
  city: ['Lyon', 'Zürich', 'São Paulo', 'Kraków'][i % 4],
  amount: (i * 37.5).toFixed(2),
  note: i % 10 === 0 ? 'Ships "as is" <fragile> & late' : 'ok',
}));
const page = JSON.stringify(rows);
const expected = renderTable(rows);
const script = new URL('render-table.mjs', import.meta.url).pathname;

const pool = createTransformPool({
  command: tsCommand('render-child.ts'),
  processes: 1,
  ...(await pipelineOption(createTransformPool)),
});
const persistent = async (): Promise<string> =>
  (await pool.transform(new Response(page, { headers: { 'content-type': 'application/json' } }))).text();
const perResponse = async (): Promise<string> =>
  (await execa(process.execPath, [script], { input: page, stripFinalNewline: false })).stdout;

// Both sides must render the same page, or the comparison means nothing.
for (const [name, render] of Object.entries({ persistent, perResponse })) {
  if ((await render()) !== expected) throw new Error(`The ${name} render differs from renderTable's`);
}
const perRound = await alternate({ persistent, perResponse }, ROUNDS, {
  persistent: ITERATIONS,
  perResponse: SPAWNS,
});
await pool.close();

const persistentUs = median(perRound.persistent as number[]);
const perResponseUs = median(perRound.perResponse as number[]);
await report(
  'render',
  `JSON page of 300 rows (${Math.round(page.length / 1024)} KiB) rendered to an HTML table, median of ${ROUNDS} rounds (${ITERATIONS} persistent, ${SPAWNS} spawned per round)`,
  {
    'serveTransform child (persistent)': {
      'µs per response': round(persistentUs),
      ratio: '1.00x',
      target: '',
    },
    '`node render-table.mjs` per response': {
      'µs per response': round(perResponseUs),
      ratio: `${(perResponseUs / persistentUs).toFixed(1)}x persistent`,
      target: '>= 50x',
    },
  },
  {
    rounds: ROUNDS,
    iterations: ITERATIONS,
    spawns: SPAWNS,
    persistentUs: round(persistentUs),
    perResponseUs: round(perResponseUs),
    ratio: round(perResponseUs / persistentUs, 2),
    perRound: roundEach(perRound),
  },
);
