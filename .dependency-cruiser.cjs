// The layers of src/, each importing only the ones below it (docs/layout.md draws them):
//
//   index.ts                     the package entry: re-exports, imported by nothing in src/
//   cli/        hono/            entry points: the reverse proxy, the Hono middleware
//   wrapper/    metrics/         selection, withTransform, createTransformPool | Prometheus text from stats
//   filter/                      protocol 'body': the filter child and the pool of filter children
//   pool/                        the process pool (long-lived processes speaking HTTP/1.1)
//   shared/                      what every pool uses: errors, options, events, stats, brand, watchdog, spawn
//   child/                       serveTransform, run in the transform process: no execa, no pool
//   wire/                        the HTTP/1.1 codec
//   util/                        value descriptions, option-key checks, batched writes
//
// `npm run lint` and .ci/run check it: `depcruise src`. A rule's comment is the message a violation prints.

/** A layer may import itself and the folders listed; any other folder of src/ is a violation. */
function layer(name, comment, allowed) {
  const own = [name, ...allowed].map((folder) => `src/${folder}/`).join('|');
  return {
    name: `layer-${name}`,
    severity: 'error',
    comment,
    from: { path: `^src/${name}/` },
    to: { path: '^src/', pathNot: `^(${own})` },
  };
}

module.exports = {
  forbidden: [
    // A cycle makes two files one unit that can be read, tested and moved only together.
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycle in src/: a layer imports only the layers below it',
      from: { path: '^src/' },
      to: { circular: true },
    },
    // The entry re-exports the layers: a layer that imports it imports every layer.
    {
      name: 'no-entry-import',
      severity: 'error',
      comment:
        'Nothing in src/ imports src/index.ts (the package entry): import the module that holds the name',
      from: { path: '^src/' },
      to: { path: '^src/index\\.ts$' },
    },
    layer('util', 'util/ is the bottom layer: it imports nothing from src/', []),
    layer('wire', 'wire/ (the codec) may import util/ only: it knows no process, pool or option', ['util']),
    layer(
      'child',
      'child/ (serveTransform, loaded by every transform process) may import wire/ and util/ only',
      ['wire', 'util'],
    ),
    layer(
      'shared',
      'shared/ (what both pool kinds use) may import wire/ and util/ only: never a pool kind or the wrapper',
      ['wire', 'util'],
    ),
    layer(
      'pool',
      'pool/ (the process pool) may import shared/, wire/ and util/: never filter/ (the pool of filter children above it) or the wrapper',
      ['shared', 'wire', 'util'],
    ),
    layer(
      'filter',
      "filter/ (protocol 'body': the filter child and the pool of them) may import pool/, child/, shared/, wire/ and util/: never the wrapper",
      ['pool', 'child', 'shared', 'wire', 'util'],
    ),
    layer(
      'metrics',
      'metrics/ may import shared/ and util/ only: it reads a pool through its stats, from any copy of the package',
      ['shared', 'util'],
    ),
    layer(
      'wrapper',
      'wrapper/ (selection, withTransform, createTransformPool) may import pool/, filter/, shared/, wire/ and util/: never an entry point above it',
      ['pool', 'filter', 'shared', 'wire', 'util'],
    ),
    layer('hono', 'hono/ may import wrapper/, shared/ and util/: it runs the same step as withTransform', [
      'wrapper',
      'shared',
      'util',
    ]),
    layer('cli', 'cli/ may import wrapper/, metrics/, shared/, wire/ and util/: never a pool kind directly', [
      'wrapper',
      'metrics',
      'shared',
      'wire',
      'util',
    ]),
    // Every transform process imports the child helper: its start-up stays fast and its dependencies few.
    {
      name: 'child-no-process-libraries',
      severity: 'error',
      comment: 'child/ imports no execa, chokidar or @hono/node-server: every transform process loads it',
      from: { path: '^src/child/' },
      to: { dependencyTypes: ['npm', 'npm-dev', 'npm-peer', 'npm-optional', 'npm-no-pkg', 'npm-unknown'] },
    },
    // The codec is a public subpath that runs anywhere Web Streams do.
    {
      name: 'wire-no-packages',
      severity: 'error',
      comment: 'wire/ (the codec) imports no package: it runs wherever Web Streams do',
      from: { path: '^src/wire/' },
      to: { dependencyTypes: ['npm', 'npm-dev', 'npm-peer', 'npm-optional', 'npm-no-pkg', 'npm-unknown'] },
    },
  ],
  options: {
    // TypeScript 7 has no compiler API for depcruise to use yet: swc parses the sources instead, and keeps
    // type-only imports (test/layers.test.ts checks it), as much a dependency as a value import.
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
  },
};
