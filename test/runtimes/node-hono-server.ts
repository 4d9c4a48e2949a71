// The test app under Node (@hono/node-server), its responses sent through the Hono middleware.
import { transform } from 'subprocess-transform/hono';
import { createApp, transformOptions } from './app.ts';
import { serveNode } from './node.ts';

const middleware = transform(transformOptions());
serveNode(createApp(middleware).fetch, () => middleware.pool.close());
