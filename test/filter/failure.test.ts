import { describe, expect, it } from 'vitest';
import { formatFailure, parseFailure } from '../../src/filter/failure.ts';

describe('a filter failure as its child tells it', () => {
  it('round-trips every kind through the Transform-Error value', () => {
    const failures = [
      { kind: 'exit', pid: 12, code: 3 },
      { kind: 'exit', pid: 12, signal: 'SIGSEGV' },
      { kind: 'timeout', pid: 7 },
      { kind: 'spawn', cause: 'spawn nope ENOENT (cwd "/tmp")' },
    ] as const;
    for (const failure of failures) expect(parseFailure(formatFailure(failure))).toEqual(failure);
  });

  it('reads a failure the child told as its answer body that could not be read', () => {
    expect(parseFailure('Its response body cannot be read: filter exit pid=41 code=3')).toEqual({
      kind: 'exit',
      pid: 41,
      code: 3,
    });
  });

  it('is no filter failure for any other reason', () => {
    expect(parseFailure('Its response body cannot be read: boom')).toBeUndefined();
    expect(parseFailure('the transform function failed')).toBeUndefined();
    expect(parseFailure('xfilter exit pid=1 code=3')).toBeUndefined();
  });
});
