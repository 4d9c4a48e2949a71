// Which process takes which waiting transform, pure: one row per rule, and the past defects each guards.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Candidate, chooseForIdle, chooseNotRetried, chooseProcess } from '../../src/pool/dispatch.ts';

function busy(inFlight: number, joinable = true): Candidate {
  return { joinable, inFlight, answered: true };
}

const NEW = { retried: false };
const RETRIED = { retried: true };

describe('chooseProcess', () => {
  it('joins the least busy process with room, not the busiest', () => {
    const processes = [busy(3), busy(1), busy(2)];
    expect(chooseProcess(processes, 4)).toBe(processes[1]);
  });

  it('takes the first of the least busy on a tie', () => {
    const processes = [busy(2), busy(1), busy(1)];
    expect(chooseProcess(processes, 4)).toBe(processes[1]);
  });

  it('skips a process with no room, however few messages it holds', () => {
    const processes = [busy(1, false), busy(3)];
    expect(chooseProcess(processes, 4)).toBe(processes[1]);
    expect(chooseProcess([busy(1, false)], 4)).toBeUndefined();
    expect(chooseProcess([], 4)).toBeUndefined();
  });

  it('joins no busy process with pipeline 1', () => {
    expect(chooseProcess([busy(0)], 1)).toBeUndefined();
  });

  it('always picks a joinable process holding the fewest messages', () => {
    const candidate = fc.record({
      joinable: fc.boolean(),
      inFlight: fc.nat({ max: 8 }),
      answered: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(candidate, { maxLength: 6 }), (processes) => {
        const chosen = chooseProcess(processes, 4);
        const joinable = processes.filter((process) => process.joinable);
        const fewest = Math.min(...joinable.map((process) => process.inFlight));
        expect(chosen).toBe(joinable.find((process) => process.inFlight === fewest));
      }),
    );
  });
});

describe('chooseNotRetried', () => {
  it('never puts a retried transform behind another client’s message: it takes the first new one', () => {
    expect(chooseNotRetried([RETRIED, NEW, NEW])).toBe(1);
    expect(chooseNotRetried([NEW, RETRIED])).toBe(0);
    expect(chooseNotRetried([RETRIED, RETRIED])).toBe(-1);
    expect(chooseNotRetried([])).toBe(-1);
  });
});

describe('chooseForIdle', () => {
  it('gives an idle process the first waiting transform', () => {
    expect(chooseForIdle([NEW, RETRIED], false, true)).toBe(0);
    expect(chooseForIdle([], true, true)).toBe(-1);
  });

  it('gives a retried transform to a process that has answered before', () => {
    expect(chooseForIdle([RETRIED, NEW], true, true)).toBe(0);
  });

  it('keeps a retried transform from a fresh process while another has answered: it takes the first new one', () => {
    expect(chooseForIdle([RETRIED, NEW], false, true)).toBe(1);
    expect(chooseForIdle([RETRIED], false, true)).toBe(-1);
  });

  it('gives a retried transform to a fresh process when no process has answered yet', () => {
    expect(chooseForIdle([RETRIED, NEW], false, false)).toBe(0);
  });
});
