// The identity transform for the HTTP benchmark: serveTransform from the source tree in BENCH_SRC (default ../src).
const src = process.env.BENCH_SRC ?? new URL('../src', import.meta.url).pathname;
const { serveTransform } = (await import(`${src}/child/index.ts`)) as typeof import('../src/child/index.ts');
await serveTransform((response) => response);
