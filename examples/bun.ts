// examples/bun.ts
import { withTransform } from 'subprocess-transform';

// render.js is run in this file's folder (cwd), wherever the server is started from.
const fetch = withTransform(() => Response.json({ hello: 'bun' }), {
  command: ['bun', 'render.js'],
  cwd: import.meta.dirname,
});
// idleTimeout 0: Bun resets a stream silent for 10 s, and a slow transform may be silent that long.
const server = Bun.serve({ fetch, port: Number(process.env.PORT ?? 3000), idleTimeout: 0 });
console.log(`Listening on ${server.url}`);
