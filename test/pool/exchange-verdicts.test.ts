// The pure decisions of one exchange: its answer's time budget, what becomes of it when its process fails,
// and what a timeout says. One row per rule; the past defects each guards are named.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeTimeout } from '../../src/pool/errors.ts';
import { computeTurnBudget, type FailedExchange, judgeFailure } from '../../src/pool/exchange-verdicts.ts';

describe('computeTurnBudget', () => {
  const clock = { startedAt: 1000, now: 1000, timeout: 300, startTimeout: 5000 };

  it('gives a process that has answered before `timeout`, however long ago it started', () => {
    expect(computeTurnBudget({ ...clock, answered: true, now: 999_999 })).toBe(300);
  });

  it('gives a first answer what is left of `startTimeout` since the spawn', () => {
    expect(computeTurnBudget({ ...clock, answered: false, now: 2000 })).toBe(4000);
  });

  it('never gives a first answer less than the shorter of the two (a process idle before its first message)', () => {
    expect(computeTurnBudget({ ...clock, answered: false, now: 60_000 })).toBe(300);
    expect(computeTurnBudget({ ...clock, answered: false, now: 60_000, timeout: 9000 })).toBe(5000);
  });

  it('is never below min(timeout, startTimeout) for a first answer, nor other than timeout after one', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.nat({ max: 1e6 }),
        fc.nat({ max: 1e6 }),
        fc.integer({ min: 1, max: 1e5 }),
        fc.integer({ min: 1, max: 1e5 }),
        (answered, startedAt, elapsed, timeout, startTimeout) => {
          const budget = computeTurnBudget({
            answered,
            startedAt,
            now: startedAt + elapsed,
            timeout,
            startTimeout,
          });
          if (answered) expect(budget).toBe(timeout);
          else expect(budget).toBe(Math.max(startTimeout - elapsed, Math.min(timeout, startTimeout)));
        },
      ),
    );
  });
});

describe('judgeFailure', () => {
  const base: FailedExchange = {
    stage: 'running',
    handedOut: false,
    output: 'none',
    unanswered: true,
    attempts: 1,
    replayable: true,
  };

  it('retries once a message whose process was gone for a reason not its own', () => {
    expect(judgeFailure(base)).toBe('retry');
  });

  it('fails a message that broke its process itself', () => {
    expect(judgeFailure({ ...base, unanswered: false })).toBe('fail');
    expect(
      judgeFailure({ ...base, unanswered: false, stage: 'streaming', output: 'answered', handedOut: true }),
    ).toBe('fail');
  });

  it('never retries twice (side effects three times)', () => {
    expect(judgeFailure({ ...base, attempts: 2 })).toBe('fail');
    expect(judgeFailure({ ...base, attempts: 0 })).toBe('fail');
  });

  it('never retries a message whose handler body cannot be sent again', () => {
    expect(judgeFailure({ ...base, replayable: false })).toBe('fail');
  });

  it('retries a head parsed but not handed out (a stale answer right behind it in the same read)', () => {
    expect(judgeFailure({ ...base, stage: 'streaming', output: 'started' })).toBe('retry');
    expect(judgeFailure({ ...base, stage: 'streaming', output: 'answered' })).toBe('retry');
  });

  it('lets an answer handed out whole stand when a stale one follows it', () => {
    expect(judgeFailure({ ...base, stage: 'streaming', output: 'answered', handedOut: true })).toBe('stands');
  });

  it('fails an answer handed out but not complete, and one being dropped', () => {
    expect(judgeFailure({ ...base, stage: 'streaming', output: 'started', handedOut: true })).toBe('fail');
    expect(judgeFailure({ ...base, stage: 'discarding', output: 'answered', handedOut: true })).toBe('fail');
    expect(judgeFailure({ ...base, stage: 'discarding' })).toBe('fail');
  });

  it('retries only unanswered, first-attempt, replayable messages with nothing handed out', () => {
    const exchange = fc.record({
      stage: fc.constantFrom('running' as const, 'streaming' as const, 'discarding' as const),
      handedOut: fc.boolean(),
      output: fc.constantFrom('none' as const, 'started' as const, 'answered' as const),
      unanswered: fc.boolean(),
      attempts: fc.nat({ max: 3 }),
      replayable: fc.boolean(),
    });
    fc.assert(
      fc.property(exchange, (failed) => {
        const verdict = judgeFailure(failed);
        if (verdict === 'retry') {
          expect(failed).toMatchObject({ unanswered: true, attempts: 1, replayable: true });
          expect(failed.stage === 'discarding' || (failed.stage === 'streaming' && failed.handedOut)).toBe(
            false,
          );
        }
        if (verdict === 'stands') expect(failed).toMatchObject({ stage: 'streaming', handedOut: true });
      }),
    );
  });
});

describe('describeTimeout', () => {
  const clock = { answered: true, timeout: 300, startTimeout: 5000 };

  it('says what the transform did not do within `timeout`', () => {
    expect(describeTimeout('none', clock)).toBe('did not answer within 300 ms');
    expect(describeTimeout('started', clock)).toBe('fell silent in the middle of its response within 300 ms');
    expect(describeTimeout('answered', clock)).toBe('did not read the rest of its input within 300 ms');
  });

  it('names startTimeout for a first answer that never began', () => {
    expect(describeTimeout('none', { ...clock, answered: false })).toBe(
      'did not answer its first message within startTimeout (5000 ms from its start)',
    );
    expect(describeTimeout('started', { ...clock, answered: false })).toBe(
      'fell silent in the middle of its response within 300 ms',
    );
  });
});
