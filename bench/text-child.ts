// A transform that reads its body as text and answers a new Response with it: the encoder's path, for
// bench/child-cpu.ts (CHILD=text-child.ts). The library as in identity-child.ts.
import { childLibrary } from './common.ts';

const { serveTransform } = (await childLibrary('child/index')) as typeof import('../src/child/index.ts');
await serveTransform(async (response) => new Response(await response.text(), response));
