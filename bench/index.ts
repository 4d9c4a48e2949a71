// `npm run bench`: every comparison in bench/, one after another, each adding its section to bench/results.json.
// BENCH_TINY=1: tiny sizes and counts, figures written to a temporary file (or BENCH_RESULTS), to check the suite.
await import('./persistent-vs-spawn.ts');
await import('./overhead.ts');
await import('./render.ts');
await import('./throughput.ts');
await import('./memory.ts');
await import('./floor.ts');
await import('./http.ts');
await import('./filter.ts');
await import('./runtimes.ts');
const { resultsPath } = await import('./common.ts');
console.log(`\nFigures written to ${resultsPath()}`);
