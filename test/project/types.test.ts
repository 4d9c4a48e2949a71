// The public signatures, pinned. `tsc -p tsconfig.json` checks this file: each `@ts-expect-error` line is
// misuse that must stay a compile error. At run time the assertions are no-ops and nothing is called, but for
// one test that runs tsc to read the message a misuse gives.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { Hono, MiddlewareHandler } from 'hono';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { transform } from '../../src/hono/index.ts';
import {
  type ContentTypeMatcher,
  createTransformPool,
  type OnError,
  type PoolOptions,
  type PoolStats,
  type SharedPoolOptions,
  type ShouldTransform,
  type TransformError,
  type TransformOptions,
  type TransformPool,
  type TransformTarget,
  withTransform,
} from '../../src/index.ts';

/** Stands for a pool in type positions and in calls that are never made. */
const pool = undefined as unknown as TransformPool;
const handler = (_request: Request) => new Response('x');

// Misuse that must not compile. These functions are never called: the tests only name them.
function misuseSelectionOnPool(): void {
  // @ts-expect-error: contentType selects responses; a pool transforms whatever it is given
  createTransformPool({ command: 'cat', contentType: 'text/html' });
  // @ts-expect-error: shouldTransform belongs to withTransform or the middleware
  createTransformPool({ command: 'cat', shouldTransform: () => true });
  // @ts-expect-error: afterTransform belongs to withTransform or the middleware
  createTransformPool({ command: 'cat', afterTransform: () => undefined });
  // @ts-expect-error: onError belongs to withTransform or the middleware
  createTransformPool({ command: 'cat', onError: 'passthrough' });
}

function misusePoolOptionTypes(): void {
  // @ts-expect-error: command is required
  createTransformPool({ processes: 1 });
  // @ts-expect-error: command is a string or a list of strings
  createTransformPool({ command: 1 });
  // @ts-expect-error: processes is a number
  createTransformPool({ command: 'cat', processes: '2' });
  // @ts-expect-error: timeout is a number of milliseconds
  createTransformPool({ command: 'cat', timeout: '1s' });
  // @ts-expect-error: stderr is 'inherit', 'ignore' or a function
  createTransformPool({ command: 'cat', stderr: 'loud' });
  // @ts-expect-error: an unknown key is refused (at run time too, naming "timeout")
  createTransformPool({ command: 'cat', timeOut: 5 });
  // @ts-expect-error: limits has three keys only
  createTransformPool({ command: 'cat', limits: { maxBodySize: 10 } });
  // @ts-expect-error: watch is a path or a list of paths
  createTransformPool({ command: 'cat', watch: 5 });
  // @ts-expect-error: pipeline is a number of messages
  createTransformPool({ command: 'cat', pipeline: true });
}

function misuseWithTransform(): void {
  // @ts-expect-error: the handler must be a function
  withTransform('app.fetch', { command: 'cat' });
  // @ts-expect-error: the handler must answer with a Response
  withTransform((_request: Request) => 'text', { command: 'cat' });
  // @ts-expect-error: pool options were fixed when the shared pool was made
  withTransform(handler, { pool, processes: 2 });
  // @ts-expect-error: a shared pool keeps its command
  withTransform(handler, { pool, command: 'cat' });
  // @ts-expect-error: contentType is a string, a list of strings or a RegExp
  withTransform(handler, { command: 'cat', contentType: 5 });
  // @ts-expect-error: onError is 'respond', 'passthrough' or a function
  withTransform(handler, { command: 'cat', onError: 'ignore' });
  // @ts-expect-error: options are required
  withTransform(handler);
}

function misuseMiddleware(): void {
  // @ts-expect-error: selection goes next to the pool, pool options do not
  transform({ pool, timeout: 5 });
  // @ts-expect-error: an unknown selection key next to the pool
  transform({ pool, contenType: 'text/html' });
  // @ts-expect-error: command is required when no pool is given
  transform({ contentType: 'text/html' });
}

/** Compiles only if app.use takes the middleware, alone or on a path; never called. */
function useMiddleware(app: Hono<{ Bindings: { TOKEN: string } }>) {
  app.use(transform(pool));
  return app.use('/pages/*', transform({ command: 'cat', contentType: 'application/json' }));
}

describe('createTransformPool', () => {
  it('takes pool options only and returns a TransformPool', () => {
    expectTypeOf(createTransformPool).parameters.toEqualTypeOf<[options: PoolOptions]>();
    expectTypeOf(createTransformPool).returns.toEqualTypeOf<TransformPool>();
    expectTypeOf(createTransformPool).toBeCallableWith({ command: ['cat'], processes: 2, decode: false });
    expectTypeOf(createTransformPool).toBeCallableWith({ command: 'cat', requestContext: ['accept'] });
  });

  it('rejects selection options at compile time', () => {
    // Each is a type nothing is assignable to, which names the option in the compiler's message.
    expectTypeOf<NonNullable<PoolOptions['contentType']>['selectionOption']>().toEqualTypeOf<'contentType'>();
    expectTypeOf<
      NonNullable<PoolOptions['shouldTransform']>['selectionOption']
    >().toEqualTypeOf<'shouldTransform'>();
    expectTypeOf<
      NonNullable<PoolOptions['afterTransform']>['selectionOption']
    >().toEqualTypeOf<'afterTransform'>();
    expectTypeOf<NonNullable<PoolOptions['onError']>['selectionOption']>().toEqualTypeOf<'onError'>();
    expectTypeOf(misuseSelectionOnPool).toBeFunction();
  });

  it('names the selection option given to a pool in the compiler message', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'subprocess-transform-types-'));
    try {
      const file = join(folder, 'misuse.ts');
      const index = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
      writeFileSync(
        file,
        `import { createTransformPool } from ${JSON.stringify(index)};\ncreateTransformPool({ command: 'cat', contentType: 'text/html' });\n`,
      );
      const root = fileURLToPath(new URL('../..', import.meta.url));
      const { stdout } = await execa(
        join(root, 'node_modules/.bin/tsc'),
        [
          ...['--ignoreConfig', '--noEmit', '--strict', '--module', 'nodenext', '--target', 'es2022'],
          ...['--allowImportingTsExtensions', '--skipLibCheck', '--types', 'node'],
          ...['--lib', 'ES2023,ESNext.Disposable,DOM,DOM.Iterable,DOM.AsyncIterable', file],
        ],
        { cwd: root, reject: false },
      );
      expect(stdout.trim().split('\n')).toEqual([
        expect.stringMatching(
          /misuse\.ts\(2,39\): error TS2322: Type 'string' is not assignable to type 'NotAPoolOption<"contentType">'\.$/,
        ),
      ]);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('rejects wrong option types', () => {
    expectTypeOf(misusePoolOptionTypes).toBeFunction();
  });
});

describe('TransformPool', () => {
  it('has transform, stats, reload, close and asyncDispose', () => {
    expectTypeOf<TransformPool['transform']>().toEqualTypeOf<
      (response: Response, init?: { request?: Request; signal?: AbortSignal }) => Promise<Response>
    >();
    expectTypeOf<TransformPool['stats']>().returns.toEqualTypeOf<PoolStats>();
    expectTypeOf<TransformPool['reload']>().toEqualTypeOf<() => Promise<void>>();
    expectTypeOf<TransformPool['close']>().toEqualTypeOf<(options?: { timeout?: number }) => Promise<void>>();
    expectTypeOf<TransformPool[typeof Symbol.asyncDispose]>().returns.toExtend<PromiseLike<void>>();
  });

  it('reports numbers in PoolStats', () => {
    expectTypeOf<PoolStats['alive']>().toEqualTypeOf<number>();
    expectTypeOf<PoolStats['queued']>().toEqualTypeOf<number>();
    expectTypeOf<PoolStats['ok']>().toEqualTypeOf<number>();
    expectTypeOf<PoolStats['failed']>().toEqualTypeOf<number>();
    expectTypeOf<PoolStats['aborted']>().toEqualTypeOf<number>();
  });
});

describe('withTransform', () => {
  it('takes options, a pool, or a pool with a selection', () => {
    expectTypeOf(withTransform).parameter(1).toEqualTypeOf<TransformTarget>();
    expectTypeOf<TransformTarget>().toEqualTypeOf<TransformOptions | TransformPool | SharedPoolOptions>();
    expectTypeOf(withTransform).toBeCallableWith(handler, { command: 'cat', contentType: /html/ });
    expectTypeOf(withTransform).toBeCallableWith(handler, pool);
    expectTypeOf(withTransform).toBeCallableWith(handler, { pool, contentType: 'text/html' });
    expectTypeOf(withTransform).toBeCallableWith(handler, { pool, onError: 'passthrough' });
  });

  it('types the selection options, with no any', () => {
    expectTypeOf<TransformOptions['contentType']>().toEqualTypeOf<ContentTypeMatcher | undefined>();
    expectTypeOf<TransformOptions['shouldTransform']>().toEqualTypeOf<ShouldTransform | undefined>();
    expectTypeOf<TransformOptions['onError']>().toEqualTypeOf<OnError | undefined>();
    expectTypeOf<ShouldTransform>().parameters.toEqualTypeOf<[Response, Request | undefined]>();
    expectTypeOf<Extract<OnError, (...args: never[]) => unknown>>()
      .parameter(0)
      .toEqualTypeOf<TransformError>();
    expectTypeOf<TransformOptions['afterTransform']>().not.toBeAny();
    expectTypeOf<TransformOptions['env']>().not.toBeAny();
  });

  it('returns a handler of the same shape, extra arguments typed, with its pool', () => {
    const wrapped = withTransform(
      (_request: Request, server: { name: string }) => new Response(server.name),
      {
        command: 'cat',
      },
    );
    expectTypeOf(wrapped).parameters.toEqualTypeOf<[request: Request, server: { name: string }]>();
    expectTypeOf(wrapped).returns.toEqualTypeOf<Promise<Response>>();
    expectTypeOf(wrapped.pool).toEqualTypeOf<TransformPool>();
  });

  it('rejects misuse at compile time', () => {
    expectTypeOf(misuseWithTransform).toBeFunction();
  });
});

describe('transform() for Hono', () => {
  it('takes what withTransform takes and returns a middleware with its pool', () => {
    expectTypeOf(transform).parameter(0).toEqualTypeOf<TransformTarget>();
    expectTypeOf(transform).returns.toExtend<MiddlewareHandler>();
    expectTypeOf(transform).returns.toHaveProperty('pool').toEqualTypeOf<TransformPool>();
  });

  it('is accepted by app.use, on a path, in an app with bindings', () => {
    expectTypeOf(useMiddleware).returns.toEqualTypeOf<Hono<{ Bindings: { TOKEN: string } }>>();
  });

  it('rejects misuse at compile time', () => {
    expectTypeOf(misuseMiddleware).toBeFunction();
  });
});
