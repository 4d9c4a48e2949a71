// The test app under Bun.serve, its responses sent through withTransform.
import { withTransform } from 'subprocess-transform';
import { announce, createApp, stopOnSigterm, transformOptions } from './app.ts';

const fetch = withTransform(createApp().fetch, transformOptions());
// idleTimeout 0: Bun resets a stream silent for 10 s by default, and a transform may be silent that long.
const server = Bun.serve({ fetch, port: 0, hostname: '127.0.0.1', idleTimeout: 0 });
announce(server.port as number);
stopOnSigterm(async () => {
  await server.stop(true);
  await fetch.pool.close();
});
