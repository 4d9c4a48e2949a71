// `npm run bench`: every comparison in bench/, one after another.
await import('./persistent-vs-spawn.ts');
await import('./throughput.ts');
await import('./http.ts');
