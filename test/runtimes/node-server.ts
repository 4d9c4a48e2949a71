// The test app under Node (@hono/node-server), its responses sent through withTransform.
import { withTransform } from 'subprocess-transform';
import { createApp, transformOptions } from './app.ts';
import { serveNode } from './node.ts';

const fetch = withTransform(createApp().fetch, transformOptions());
serveNode(fetch, () => fetch.pool.close());
