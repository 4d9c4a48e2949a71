// examples/deno.ts
import { withTransform } from 'subprocess-transform';

// render.js by its URL next to this file, so it is found wherever the server is started from.
const fetch = withTransform(() => Response.json({ hello: 'deno' }), {
  command: ['deno', 'run', new URL('render.js', import.meta.url).href],
});
const port = Number(Deno.env.get('PORT') ?? 3000);
Deno.serve({ port, onListen: (addr) => console.log(`Listening on http://127.0.0.1:${addr.port}/`) }, fetch);
