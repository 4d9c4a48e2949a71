// The id checks of the pool, pure: which answer ids are refused, and which answered ids a process remembers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AnsweredIds, createRequestId, MAX_ANSWERED_IDS, RequestIdCheck } from '../../src/pool/request-id.ts';

describe('RequestIdCheck', () => {
  it('accepts the id of the message in flight, and refuses any other, quoting it', () => {
    const check = new RequestIdCheck(true);
    expect(check.check('a', 'a')).toBeUndefined();
    expect(check.check('a', 'b')).toBe(
      'answered with Transform-Request-Id "b", not the id of the message in flight',
    );
    expect(check.check('a', 'x'.repeat(100))).toContain(`"${'x'.repeat(64)}"`);
    expect(check.check('a', 'x'.repeat(100))).not.toContain('x'.repeat(65));
  });

  it('refuses a missing id when ids are required, saying to copy the header', () => {
    expect(new RequestIdCheck(true).check('a', undefined)).toBe(
      'answered without the Transform-Request-Id of its message: copy that header from the input to the answer',
    );
  });

  it('accepts a missing id when ids are not required, until the process has echoed one', () => {
    const check = new RequestIdCheck(false);
    expect(check.check('a', undefined)).toBeUndefined();
    expect(check.check('b', 'c')).toBeDefined();
    expect(check.check('b', undefined)).toBeUndefined();
    expect(check.check('b', 'b')).toBeUndefined();
    expect(check.check('c', undefined)).toBe('stopped echoing Transform-Request-Id');
  });
});

describe('AnsweredIds', () => {
  it('remembers the last ids up to its bound, the oldest dropped first', () => {
    const ids = new AnsweredIds(3);
    for (const id of ['a', 'b', 'c']) ids.add(id);
    expect(['a', 'b', 'c'].map((id) => ids.has(id))).toEqual([true, true, true]);
    ids.add('d');
    expect(['a', 'b', 'c', 'd'].map((id) => ids.has(id))).toEqual([false, true, true, true]);
    ids.add('e');
    ids.add('f');
    ids.add('g');
    expect(['d', 'e', 'f', 'g'].map((id) => ids.has(id))).toEqual([false, true, true, true]);
  });

  it('counts an id added twice once', () => {
    const ids = new AnsweredIds(2);
    ids.add('a');
    ids.add('b');
    ids.add('b');
    expect(ids.has('a')).toBe(true);
    ids.add('c');
    expect([ids.has('a'), ids.has('b'), ids.has('c')]).toEqual([false, true, true]);
  });

  it(`defaults to ${MAX_ANSWERED_IDS}`, () => {
    const ids = new AnsweredIds();
    for (let index = 0; index <= MAX_ANSWERED_IDS; index++) ids.add(String(index));
    expect([ids.has('0'), ids.has('1'), ids.has(String(MAX_ANSWERED_IDS))]).toEqual([false, true, true]);
  });
});

describe('createRequestId', () => {
  it('gives a new random UUID each time', () => {
    const ids = Array.from({ length: 100 }, () => createRequestId());
    expect(new Set(ids).size).toBe(100);
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

/** The reference: the last `bound` distinct ids, in the order they were first added. */
interface IdsModel {
  bound: number;
  ids: string[];
}

class AddCommand implements fc.Command<IdsModel, AnsweredIds> {
  constructor(readonly id: string) {}
  check(): boolean {
    return true;
  }
  run(model: IdsModel, real: AnsweredIds): void {
    real.add(this.id);
    if (!model.ids.includes(this.id)) model.ids.push(this.id);
    if (model.ids.length > model.bound) model.ids.shift();
  }
  toString(): string {
    return `add(${this.id})`;
  }
}

class HasCommand implements fc.Command<IdsModel, AnsweredIds> {
  constructor(readonly id: string) {}
  check(): boolean {
    return true;
  }
  run(model: IdsModel, real: AnsweredIds): void {
    expect(real.has(this.id)).toBe(model.ids.includes(this.id));
  }
  toString(): string {
    return `has(${this.id})`;
  }
}

describe('AnsweredIds against a reference model', () => {
  it('remembers exactly what the model does, for any run of adds and lookups', () => {
    // Few distinct ids, so repeats and evictions are common.
    const id = fc.constantFrom(...'abcdefghij'.split(''));
    const commands = fc.commands(
      [id.map((value) => new AddCommand(value)), id.map((value) => new HasCommand(value))],
      {
        maxCommands: 60,
      },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), commands, (bound, run) => {
        fc.modelRun(() => ({ model: { bound, ids: [] }, real: new AnsweredIds(bound) }), run);
      }),
    );
  });
});
