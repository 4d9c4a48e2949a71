// The messages on board of one process, pure: which is being written, which is being answered, which leave.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InFlight } from '../../src/pool/in-flight.ts';

/** A queue holding `names`, in that order. */
function board(...names: string[]): InFlight<string> {
  const queue = new InFlight<string>();
  for (const name of names) queue.push(name);
  return queue;
}

describe('InFlight', () => {
  it('starts empty, with nothing being written or answered', () => {
    const queue = new InFlight<string>();
    expect([queue.length, queue.reading, queue.writing, queue.last]).toEqual([
      0,
      undefined,
      undefined,
      undefined,
    ]);
    expect(queue.allWritten).toBe(true);
    expect(queue.readingHasTurn).toBe(false);
    expect(queue.shiftDone()).toBeUndefined();
    expect(() => queue.answer()).toThrow(new RangeError('No message on board is waiting for its answer'));
    expect(() => queue.write()).toThrow(RangeError);
  });

  it('writes and answers in board order, each index on its own', () => {
    const queue = board('a', 'b', 'c');
    expect([queue.reading, queue.writing, queue.last, queue.allWritten]).toEqual(['a', 'a', 'c', false]);
    expect(queue.write()).toBe('a');
    expect(queue.write()).toBe('b');
    expect([queue.reading, queue.writing]).toEqual(['a', 'c']);
    expect(queue.answer()).toBe('a');
    expect([queue.reading, queue.isAnswered(0), queue.isAnswered(1)]).toEqual(['b', true, false]);
    expect(queue.write()).toBe('c');
    expect([queue.allWritten, queue.writing]).toEqual([true, undefined]);
    expect(() => queue.write()).toThrow('No message on board is waiting to be written');
  });

  it('lets an answer come whole before its message is written, and finishes it only once both are done', () => {
    const queue = board('a', 'b');
    expect(queue.answer()).toBe('a');
    expect(queue.shiftDone()).toBeUndefined();
    queue.write();
    expect(queue.shiftDone()).toBe('a');
    expect([queue.length, queue.reading, queue.writing]).toEqual([1, 'b', 'b']);
    expect(queue.shiftDone()).toBeUndefined();
  });

  it('finishes from the head only: a later message done both ways waits for the ones ahead', () => {
    const queue = board('a', 'b');
    queue.write();
    queue.write();
    expect(queue.shiftDone()).toBeUndefined();
    queue.answer();
    expect(queue.shiftDone()).toBe('a');
    expect(queue.shiftDone()).toBeUndefined();
    queue.answer();
    expect(queue.shiftDone()).toBe('b');
    expect([queue.length, queue.reading, queue.writing]).toEqual([0, undefined, undefined]);
  });

  it('gives the answer being read its turn once every message ahead of it is written', () => {
    const queue = board('a', 'b');
    expect(queue.readingHasTurn).toBe(true);
    queue.answer();
    expect(queue.readingHasTurn).toBe(false);
    queue.write();
    expect(queue.readingHasTurn).toBe(true);
    queue.answer();
    expect(queue.readingHasTurn).toBe(false);
  });

  it('keeps both indices on the same entries when entries ahead of them or behind them are taken off', () => {
    const queue = board('a', 'b', 'c', 'd');
    queue.write();
    queue.write();
    queue.answer();
    expect(queue.remove((name) => name === 'a' || name === 'd')).toEqual(['a', 'd']);
    expect([queue.entries, queue.reading, queue.writing, queue.isAnswered(0)]).toEqual([
      ['b', 'c'],
      'b',
      'c',
      false,
    ]);
    expect(queue.remove((_, index) => index > 0)).toEqual(['c']);
    expect([queue.entries, queue.allWritten]).toEqual([['b'], true]);
  });

  it('finds entries by position', () => {
    const queue = board('a', 'b');
    expect([queue.indexOf('b'), queue.indexOf('z')]).toEqual([1, -1]);
  });
});

/** The reference: each message with two flags, and every question answered by a scan. */
interface Message {
  name: number;
  answered: boolean;
  written: boolean;
}
type Model = { messages: Message[]; next: number };

function firstWhere(model: Model, test: (message: Message) => boolean): number | undefined {
  return model.messages.find(test)?.name;
}

function expectSame(model: Model, real: InFlight<number>): void {
  const { messages } = model;
  expect(real.entries).toEqual(messages.map((message) => message.name));
  expect(real.reading).toBe(firstWhere(model, (message) => !message.answered));
  expect(real.writing).toBe(firstWhere(model, (message) => !message.written));
  expect(real.last).toBe(messages.at(-1)?.name);
  expect(real.allWritten).toBe(messages.every((message) => message.written));
  const reading = messages.findIndex((message) => !message.answered);
  expect(real.readingHasTurn).toBe(
    reading !== -1 && messages.slice(0, reading).every((message) => message.written),
  );
  expect(messages.map((_, index) => real.isAnswered(index))).toEqual(
    messages.map((message) => message.answered),
  );
}

const commands = [
  fc.constant({
    toString: () => 'push',
    check: () => true,
    run(model: Model, real: InFlight<number>) {
      real.push(model.next);
      model.messages.push({ name: model.next++, answered: false, written: false });
      expectSame(model, real);
    },
  }),
  fc.constant({
    toString: () => 'answer',
    check: (model: Readonly<Model>) => model.messages.some((message) => !message.answered),
    run(model: Model, real: InFlight<number>) {
      const message = model.messages.find((next) => !next.answered) as Message;
      message.answered = true;
      expect(real.answer()).toBe(message.name);
      expectSame(model, real);
    },
  }),
  fc.constant({
    toString: () => 'write',
    check: (model: Readonly<Model>) => model.messages.some((message) => !message.written),
    run(model: Model, real: InFlight<number>) {
      const message = model.messages.find((next) => !next.written) as Message;
      message.written = true;
      expect(real.write()).toBe(message.name);
      expectSame(model, real);
    },
  }),
  fc.constant({
    toString: () => 'shiftDone',
    check: () => true,
    run(model: Model, real: InFlight<number>) {
      const head = model.messages[0];
      const done = head?.answered === true && head.written;
      if (done) model.messages.shift();
      expect(real.shiftDone()).toBe(done ? head.name : undefined);
      expectSame(model, real);
    },
  }),
  fc.array(fc.nat({ max: 7 }), { maxLength: 3 }).map((picks) => ({
    toString: () => `remove(${picks.join(',')})`,
    check: () => true,
    run(model: Model, real: InFlight<number>) {
      const picked = (index: number) => picks.includes(index);
      const removed = model.messages.filter((_, index) => picked(index)).map((message) => message.name);
      model.messages = model.messages.filter((_, index) => !picked(index));
      expect(real.remove((_, index) => picked(index))).toEqual(removed);
      expectSame(model, real);
    },
  })),
];

describe('InFlight against a reference model', () => {
  it('answers every question as a scan of flagged messages does, for any run of pushes, writes, answers and removals', () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 80 }), (run) => {
        fc.modelRun(() => ({ model: { messages: [], next: 0 }, real: new InFlight<number>() }), run);
      }),
      { numRuns: 300 },
    );
  });
});
