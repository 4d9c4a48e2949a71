// The wait queue and the rule that admits a new transform to it, pure: one row per rule, the past defects
// each guards, and a model run of the queue against a plain array.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Arrival, judgeArrival, WaitQueue } from '../../src/pool/wait-queue.ts';

const open: Arrival = {
  closed: false,
  aborted: false,
  takenNow: false,
  failingAtStart: false,
  queued: 0,
  maxQueue: 2,
};

describe('judgeArrival', () => {
  it('admits a transform while fewer than maxQueue wait', () => {
    expect(judgeArrival(open)).toBeUndefined();
    expect(judgeArrival({ ...open, queued: 1 })).toBeUndefined();
  });

  it('refuses one past maxQueue waiting, but never one a process takes at once', () => {
    expect(judgeArrival({ ...open, queued: 2 })).toBe('full');
    expect(judgeArrival({ ...open, queued: 3 })).toBe('full');
    expect(judgeArrival({ ...open, queued: 2, takenNow: true })).toBeUndefined();
    expect(judgeArrival({ ...open, maxQueue: 0 })).toBe('full');
  });

  it('fails fast while processes keep failing at start, unless an idle process can show it starts', () => {
    expect(judgeArrival({ ...open, failingAtStart: true })).toBe('failing');
    expect(judgeArrival({ ...open, failingAtStart: true, queued: 5 })).toBe('failing');
    expect(judgeArrival({ ...open, failingAtStart: true, takenNow: true })).toBeUndefined();
  });

  it('refuses on a closed pool, then for a client gone, before anything else', () => {
    const everything = {
      closed: true,
      aborted: true,
      takenNow: true,
      failingAtStart: true,
      queued: 9,
      maxQueue: 1,
    };
    expect(judgeArrival(everything)).toBe('closed');
    expect(judgeArrival({ ...everything, closed: false })).toBe('aborted');
    expect(judgeArrival({ ...open, aborted: true, takenNow: true })).toBe('aborted');
  });
});

type Item = { name: string; retried: boolean };
const item = (name: string, retried = false): Item => ({ name, retried });

describe('WaitQueue', () => {
  it('serves first come first served, and a requeued one first', () => {
    const queue = new WaitQueue<Item>();
    const [a, b, c] = [item('a'), item('b'), item('c', true)];
    queue.push(a);
    queue.push(b);
    queue.pushFirst(c);
    expect(queue.length).toBe(3);
    expect(queue.first).toBe(c);
    expect(queue.takeAll()).toEqual([c, a, b]);
    expect(queue.length).toBe(0);
    expect(queue.first).toBeUndefined();
  });

  it('lets one leave from anywhere in line, and ignores one not in it', () => {
    const queue = new WaitQueue<Item>();
    const [a, b, c] = [item('a'), item('b'), item('c')];
    for (const one of [a, b, c]) queue.push(one);
    queue.remove(b);
    queue.remove(b);
    expect(queue.takeAll()).toEqual([a, c]);
  });

  it('gives a busy process or the trial the first new one, never a retried one', () => {
    const queue = new WaitQueue<Item>();
    const [retried, fresh] = [item('r', true), item('f')];
    queue.push(retried);
    expect(queue.hasNotRetried).toBe(false);
    expect(queue.takeNotRetried()).toBeUndefined();
    queue.push(fresh);
    expect(queue.hasNotRetried).toBe(true);
    expect(queue.takeNotRetried()).toBe(fresh);
    expect(queue.takeAll()).toEqual([retried]);
  });

  it('keeps a retried one first in line for a process that has answered, while another has', () => {
    const queue = new WaitQueue<Item>();
    const [retried, fresh] = [item('r', true), item('f')];
    queue.push(retried);
    queue.push(fresh);
    let asked = 0;
    const anotherAnswered = (): boolean => {
      asked++;
      return true;
    };
    expect(queue.takeForIdle(false, anotherAnswered)).toBe(fresh);
    expect(asked).toBe(1);
    expect(queue.takeForIdle(false, anotherAnswered)).toBeUndefined();
    expect(queue.takeForIdle(false, () => false)).toBe(retried);
  });

  it('asks whether another process answered only when a retried one is first and this one has not', () => {
    const queue = new WaitQueue<Item>();
    const never = (): boolean => {
      throw new Error('asked');
    };
    expect(queue.takeForIdle(false, never)).toBeUndefined();
    queue.push(item('f'));
    queue.push(item('r', true));
    expect(queue.takeForIdle(false, never)?.name).toBe('f');
    expect(queue.takeForIdle(true, never)?.name).toBe('r');
  });

  it('behaves as a plain array with a FIFO rule (model)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), retried: fc.boolean() }),
      fc.record({ kind: fc.constant('pushFirst' as const), retried: fc.boolean() }),
      fc.record({ kind: fc.constant('remove' as const), at: fc.nat(8) }),
      fc.record({ kind: fc.constant('takeNotRetried' as const) }),
      fc.record({ kind: fc.constant('takeForIdle' as const), answered: fc.boolean(), another: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const queue = new WaitQueue<Item>();
        const model: Item[] = [];
        let n = 0;
        for (const step of ops) {
          switch (step.kind) {
            case 'push':
            case 'pushFirst': {
              const one = item(`i${n++}`, step.retried);
              queue[step.kind](one);
              if (step.kind === 'push') model.push(one);
              else model.unshift(one);
              break;
            }
            case 'remove': {
              const one = model[step.at];
              if (one === undefined) break;
              queue.remove(one);
              model.splice(step.at, 1);
              break;
            }
            case 'takeNotRetried': {
              const index = model.findIndex((one) => !one.retried);
              const expected = index === -1 ? undefined : model.splice(index, 1)[0];
              expect(queue.takeNotRetried()).toBe(expected);
              break;
            }
            case 'takeForIdle': {
              const first = model[0];
              let index = first === undefined ? -1 : 0;
              if (first?.retried && !step.answered && step.another)
                index = model.findIndex((one) => !one.retried);
              const expected = index === -1 ? undefined : model.splice(index, 1)[0];
              expect(queue.takeForIdle(step.answered, () => step.another)).toBe(expected);
              break;
            }
          }
          expect(queue.length).toBe(model.length);
          expect(queue.first).toBe(model[0]);
          expect(queue.hasNotRetried).toBe(model.some((one) => !one.retried));
        }
        expect(queue.takeAll()).toEqual(model);
      }),
    );
  });
});
