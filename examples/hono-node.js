// examples/hono-node.js
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { transform } from 'subprocess-transform/hono';

const app = new Hono();
// Every JSON response under /report goes through a long-lived `node render.js` process, run in this
// file's folder (cwd), so render.js is found wherever the server is started from.
app.use(
  '/report',
  transform({ command: ['node', 'render.js'], cwd: import.meta.dirname, contentType: 'application/json' }),
);
app.get('/report', (c) => c.json({ rows: [1, 2, 3] }));

serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000) }, (info) => {
  console.log(`Listening on http://127.0.0.1:${info.port}/report`);
});
