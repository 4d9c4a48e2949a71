// The test app under Deno.serve, its responses sent through withTransform.
// Run with --unstable-no-legacy-abort, or Deno aborts request.signal after every completed response and warns.
import { withTransform } from 'subprocess-transform';
import { announce, createApp, stopOnSigterm, transformOptions } from './app.ts';

const fetch = withTransform(createApp().fetch, transformOptions());
const server = Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: ({ port }) => announce(port) }, fetch);
stopOnSigterm(async () => {
  await server.shutdown();
  await fetch.pool.close();
});
