// The identity transform of the benchmarks: serveTransform from BENCH_SRC, or the built package (common.ts).
import { childLibrary } from './common.ts';

const { serveTransform } = (await childLibrary('child/index')) as typeof import('../src/child/index.ts');
await serveTransform((response) => response);
