// A transform that reads its body as text and answers a new Response with it: the encoder's path, for
// bench/child-cpu.ts (CHILD=text-child.ts). BENCH_SRC as in identity-child.ts.
const src = process.env.BENCH_SRC ?? new URL('../src', import.meta.url).pathname;
const { serveTransform } = (await import(`${src}/child/index.ts`)) as typeof import('../src/child/index.ts');
await serveTransform(async (response) => new Response(await response.text(), response));
