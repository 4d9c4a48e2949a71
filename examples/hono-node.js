// examples/hono-node.js
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { transform } from 'subprocess-transform/hono';

const app = new Hono();
// Every JSON response under /report goes through a long-lived `node render.js` process.
app.use('/report', transform({ command: ['node', 'render.js'], contentType: 'application/json' }));
app.get('/report', (c) => c.json({ rows: [1, 2, 3] }));

serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000) }, (info) => {
  console.log(`Listening on http://127.0.0.1:${info.port}/report`);
});
