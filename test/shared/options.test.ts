// Options are checked when the pool is made, with a TypeError or RangeError naming the option, and a bad one
// starts nothing (no transform process, no watchdog).
import { describe, expect, it } from 'vitest';
import { transform } from '../../src/hono/index.ts';
import {
  createTransformPool,
  type PoolOptions,
  type TransformTarget,
  withTransform,
} from '../../src/index.ts';
import { listChildren, track } from '../_utils.ts';

/** The error `make` throws, checking that nothing was started before it was thrown. */
function refusal(make: () => unknown): unknown {
  const before = listChildren().length;
  try {
    const made = make() as Parameters<typeof track>[0];
    track(made);
    return undefined;
  } catch (error) {
    // Refused before anything started: no transform, no watchdog.
    expect(listChildren().length).toBe(before);
    return error;
  }
}

/** The error of a pool made from plain JavaScript with these options next to a valid command. */
function poolRefusal(options: Record<string, unknown>): unknown {
  return refusal(() => createTransformPool({ command: 'cat', processes: 1, ...options } as PoolOptions));
}

const handler = (): Response => new Response('x');

describe('pool options', () => {
  it.each([
    [{ decode: 'no' }, TypeError, /`decode` to be a boolean, got "no"$/],
    [{ preserveValidators: 1 }, TypeError, /`preserveValidators` to be a boolean, got 1$/],
    [{ requireRequestId: 'yes' }, TypeError, /`requireRequestId` to be a boolean, got "yes"$/],
    [{ extendEnv: 0 }, TypeError, /`extendEnv` to be a boolean, got 0$/],
    [{ env: 'A=1' }, TypeError, /`env` to be an object of strings, got "A=1"$/],
    [{ env: null }, TypeError, /`env` to be an object of strings, got null$/],
    [{ env: { A: 1 } }, TypeError, /`env.A` to be a string, got 1$/],
    [{ env: { A: 'x\0y' } }, TypeError, /`env.A` without NUL bytes, got "x\\u0000y"$/],
    [{ env: { 'A=B': 'x' } }, TypeError, /`env` names without "=" or NUL bytes, got "A=B"$/],
    [{ cwd: 5 }, TypeError, /`cwd` to be a string, got 5$/],
    [{ timeout: null }, TypeError, /`timeout` to be a number, got null$/],
    [{ timeout: Number.NaN }, TypeError, /`timeout` to be a number, got NaN$/],
    [{ timeout: '1s' }, TypeError, /`timeout` to be a number, got "1s"$/],
    [{ startTimeout: -1 }, RangeError, /`startTimeout` to be a non-negative integer, got -1$/],
    [{ uid: 2 ** 32 }, RangeError, /`uid` to be an integer from 0 to 4294967294, got 4294967296$/],
    [{ gid: -1 }, RangeError, /`gid` to be an integer from 0 to 4294967294, got -1$/],
    [{ processes: Number.NaN }, TypeError, /`processes` to be a number, got NaN$/],
    [{ processes: 0 }, RangeError, /`processes` to be an integer from 1 to 1024, got 0$/],
    [{ pipeline: 0 }, RangeError, /`pipeline` to be an integer from 1 to 1024, got 0$/],
    [{ pipeline: 1.5 }, RangeError, /`pipeline` to be an integer from 1 to 1024, got 1.5$/],
    [{ pipeline: 1025 }, RangeError, /`pipeline` to be an integer from 1 to 1024, got 1025$/],
    [
      { pipeline: Number.POSITIVE_INFINITY },
      RangeError,
      /`pipeline` to be an integer from 1 to 1024, got Infinity$/,
    ],
    [{ pipeline: '4' }, TypeError, /`pipeline` to be a number, got "4"$/],
    [{ maxQueue: -1 }, RangeError, /`maxQueue` to be an integer of at least 0, got -1$/],
    [{ maxRequestsPerProcess: 1.5 }, RangeError, /`maxRequestsPerProcess` .* got 1.5$/],
    [{ onEvent: 'log' }, TypeError, /`onEvent` to be a function, got "log"$/],
    [{ recycle: true }, TypeError, /`recycle` to be a function, got true$/],
    [{ stderr: 'loud' }, TypeError, /`stderr` to be 'inherit', 'ignore' or a function, got "loud"$/],
    [{ requestContext: 'accept' }, TypeError, /`requestContext` .* header names, got "accept"$/],
    [{ requestContext: [1] }, TypeError, /`requestContext` .* header names, got \[1\]$/],
    [{ command: '' }, RangeError, /`command` to name a program, got ""$/],
    [{ command: [] }, RangeError, /`command` to name a program, got \[\]$/],
    [{ command: 42 }, TypeError, /`command` to be a string or an array of strings, got 42$/],
    [{ command: ['node', 1] }, TypeError, /`command` .* got \["node",1\]$/],
    [{ protocol: 'lines' }, TypeError, /`protocol` to be 'http' or 'body', got "lines"$/],
    [{ protocol: 'body', outputType: 5 }, TypeError, /`outputType` .* got 5$/],
    [{ limits: 'big' }, TypeError, /`limits` to be an object, got "big"$/],
    [{ limits: { maxBodyBytes: '1mb' } }, TypeError, /`limits.maxBodyBytes` to be a number, got "1mb"$/],
    [{ limits: { maxHeaderCount: 0 } }, RangeError, /`limits.maxHeaderCount` .* got 0$/],
    [{ onEvent: new Map() }, TypeError, /`onEvent` to be a function, got an instance of Map$/],
    [
      { watch: ['test/fixtures/upper.mjs', 'rendr.js'] },
      TypeError,
      new RegExp(
        `^Expected \`watch\` to name files or folders that exist, got "rendr.js": it does not exist \\(relative paths are from ${process.cwd().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`,
      ),
    ],
    [
      { watch: '/nonexistent/render.js' },
      TypeError,
      /^Expected `watch` to name files or folders that exist, got "\/nonexistent\/render.js": it does not exist$/,
    ],
  ])('refuses %o, naming the value', (options, type, message) => {
    const error = poolRefusal(options);
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
  });

  it.each([
    [{ timeOut: 5 }, 'Unknown option "timeOut": did you mean "timeout"?'],
    // Two neighbours swapped count as one slip.
    [{ cdw: '/' }, 'Unknown option "cdw": did you mean "cwd"?'],
    [{ proceses: 2 }, 'Unknown option "proceses": did you mean "processes"?'],
    [{ maxqueue: 2 }, 'Unknown option "maxqueue": did you mean "maxQueue"?'],
    [{ onevent: () => {} }, 'Unknown option "onevent": did you mean "onEvent"?'],
    [{ limit: {} }, 'Unknown option "limit": did you mean "limits"?'],
    [
      { limits: { maxBodySize: 10 } },
      'Unknown option "limits.maxBodySize": did you mean "limits.maxBodyBytes"?',
    ],
  ])('refuses the unknown key of %o with the nearest known one', (options, message) => {
    const error = poolRefusal(options);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(message);
  });

  it('refuses an unknown key with no near one, listing the options', () => {
    const error = poolRefusal({ renderer: 'x' });
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(
      /^Unknown option "renderer": the options are command, cwd, env, extendEnv, uid, gid, processes, pipeline, timeout, .*, onEvent, watch$/,
    );
    const nested = poolRefusal({ limits: { depth: 1 } }) as Error;
    expect(nested.message).toBe(
      'Unknown option "limits.depth": the options are limits.maxHeaderBytes, limits.maxHeaderCount, limits.maxBodyBytes',
    );
  });

  it.each([
    [undefined, 'got undefined'],
    [null, 'got null'],
    ['cat', 'got "cat"'],
  ])('refuses %o as the options object, naming the call', (options, got) => {
    const error = refusal(() => createTransformPool(options as unknown as PoolOptions));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(
      `Expected the options of createTransformPool() to be an object such as { command: ['cat'] }, ${got}`,
    );
  });

  it.each([
    'shouldTransform',
    'contentType',
    'afterTransform',
    'onError',
  ])('refuses the selection option %s, saying where it belongs', (key) => {
    // From plain JavaScript: the types refuse it already. A pool never selects, so it would be ignored.
    const error = poolRefusal({ [key]: key === 'contentType' ? 'text/html' : () => undefined, timeOut: 5 });
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(
      `Expected pool options only, got \`${key}\`: selection belongs to withTransform or the Hono middleware, as \`{ pool, ${key} }\``,
    );
  });

  it('accepts a selection option given as undefined, as the types do', () => {
    const pool = track(createTransformPool({ command: 'cat', processes: 1, contentType: undefined }));
    expect(pool.stats().alive).toBe(1);
  });

  it('refuses a command it cannot find in the pool, the handler and the middleware, starting nothing', () => {
    const command = ['nodee', 'render.js'];
    for (const make of [
      () => createTransformPool({ command }),
      () => withTransform(handler, { command }),
      () => transform({ command }),
      () => createTransformPool({ command, protocol: 'body' }),
    ]) {
      const error = refusal(make);
      expect(error).toMatchObject({ name: 'TransformError', code: 'ERR_TRANSFORM_SPAWN', status: 502 });
      expect((error as Error).message).toMatch(
        /^Transform "nodee render\.js" cannot be started: no program "nodee" on PATH \(searched /,
      );
    }
  });

  it('names the working directory when the command cannot start in it', async () => {
    const pool = track(
      createTransformPool({ command: 'cat', processes: 1, cwd: '/nonexistent-dir', onEvent: () => {} }),
    );
    const error = await pool.transform(new Response('x')).then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(error).toMatchObject({ code: 'ERR_TRANSFORM_SPAWN' });
    expect(error?.message).toMatch(/could not be started: .*ENOENT.*cwd "\/nonexistent-dir"/);
  });
});

describe('withTransform and transform() options', () => {
  const makers: [string, (options: unknown) => unknown][] = [
    ['withTransform', (options) => withTransform(handler, options as TransformTarget)],
    ['transform', (options) => transform(options as TransformTarget)],
  ];

  it.each(makers)('%s() refuses missing options, naming the call', (name, make) => {
    const error = refusal(() => make(undefined));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(
      `Expected the options of ${name}() to be an object such as { command: ['cat'] }, a pool, or { pool, ...selection }, got undefined`,
    );
  });

  it.each(makers)('%s() refuses unknown keys of pool and selection options', (_name, make) => {
    const cases: [Record<string, unknown>, string][] = [
      [{ contenType: 'text/html' }, 'Unknown option "contenType": did you mean "contentType"?'],
      [{ timout: 5 }, 'Unknown option "timout": did you mean "timeout"?'],
      [{ onErorr: 'passthrough' }, 'Unknown option "onErorr": did you mean "onError"?'],
      [
        { limits: { maxHeaders: 1 } },
        'Unknown option "limits.maxHeaders": did you mean "limits.maxHeaderBytes"?',
      ],
    ];
    for (const [options, message] of cases) {
      const error = refusal(() => make({ command: 'cat', processes: 1, ...options }));
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toBe(message);
    }
  });

  it.each(makers)('%s() names the value of a wrong selection option', (_name, make) => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ contentType: 5 }, /`contentType` to be a string, a list of strings or a RegExp, got 5$/],
      [{ contentType: ['text/html', 1] }, /`contentType` .* got \["text\/html",1\]$/],
      [{ onError: 'ignore' }, /`onError` to be 'respond', 'passthrough' or a function, got "ignore"$/],
      [{ shouldTransform: true }, /`shouldTransform` to be a function, got true$/],
      [{ afterTransform: 'html' }, /`afterTransform` to be a function, got "html"$/],
    ];
    for (const [options, message] of cases) {
      const error = refusal(() => make({ command: 'cat', processes: 1, ...options }));
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toMatch(message);
    }
  });

  it.each(makers)('%s() checks the options next to a shared pool', (_name, make) => {
    const pool = track(createTransformPool({ command: 'cat', processes: 1 }));
    const cases: [Record<string, unknown>, RegExp | string][] = [
      [{ contenType: 'text/html' }, 'Unknown option "contenType": did you mean "contentType"?'],
      [
        { renderer: 'x' },
        'Unknown option "renderer": the options are pool, shouldTransform, contentType, afterTransform, onError',
      ],
      [
        { timeout: 5 },
        /^Expected only selection options next to `pool`, got `timeout`: pool options are given to createTransformPool$/,
      ],
      [{ contentType: 5 }, /`contentType` .* got 5$/],
    ];
    for (const [options, message] of cases) {
      const error = refusal(() => make({ pool, ...options }));
      expect(error).toBeInstanceOf(TypeError);
      if (typeof message === 'string') expect((error as Error).message).toBe(message);
      else expect((error as Error).message).toMatch(message);
    }
    const missing = refusal(() => make({ pool: undefined, contentType: 'text/html' }));
    expect((missing as Error).message).toBe(
      'Expected `pool` to be a pool made by createTransformPool, got undefined',
    );
    // A pool option given as undefined says nothing, as the types allow: accepted.
    expect(refusal(() => make({ pool, timeout: undefined, contentType: 'text/html' }))).toBeUndefined();
  });

  it('withTransform() names a handler that is not a function', () => {
    const error = refusal(() => withTransform('app.fetch' as never, { command: 'cat', processes: 1 }));
    expect((error as Error).message).toBe('Expected `handler` to be a function, got "app.fetch"');
  });
});
