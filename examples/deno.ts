// examples/deno.ts
import { withTransform } from 'subprocess-transform';

const fetch = withTransform(() => Response.json({ hello: 'deno' }), {
  command: ['deno', 'run', 'render.js'],
});
const port = Number(Deno.env.get('PORT') ?? 3000);
Deno.serve({ port, onListen: (addr) => console.log(`Listening on http://127.0.0.1:${addr.port}/`) }, fetch);
