// The drop of an unwanted answer: its bounds (pure), and one drain's clock from the exchange's turn, on a
// fake clock so no row depends on machine speed.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ABANDONED_DRAIN, Drain, getFailedAnswerDrain, isPastDrainBound } from '../../src/pool/drain.ts';
import type { ExitReason } from '../../src/shared/events.ts';

describe('drain bounds', () => {
  it('kills a process that goes on writing past 1 MiB for a client who left', () => {
    expect(isPastDrainBound(1024 * 1024, ABANDONED_DRAIN)).toBe(false);
    expect(isPastDrainBound(1024 * 1024 + 1, ABANDONED_DRAIN)).toBe(true);
    expect(ABANDONED_DRAIN).toEqual({ maxBytes: 1024 * 1024, ms: 1000, reason: 'abort' });
  });

  it('bounds a Transform-Error body by `timeout` in total and no size of its own (never capped at 1 MiB)', () => {
    const bound = getFailedAnswerDrain(2500);
    expect(bound).toEqual({ maxBytes: Number.POSITIVE_INFINITY, ms: 2500, reason: 'timeout' });
    expect(isPastDrainBound(64 * 1024 * 1024, bound)).toBe(false);
  });
});

describe('Drain', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function track(bound = ABANDONED_DRAIN): { drain: Drain; past: ExitReason[] } {
    const past: ExitReason[] = [];
    return { drain: new Drain(bound, (reason) => past.push(reason)), past };
  }

  it("counts its time from the exchange's turn, not from its creation", () => {
    const { drain, past } = track();
    vi.advanceTimersByTime(10 * ABANDONED_DRAIN.ms);
    expect(past).toEqual([]);
    drain.start();
    vi.advanceTimersByTime(ABANDONED_DRAIN.ms - 1);
    expect(past).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(past).toEqual(['abort']);
  });

  it("kills for the bound's reason when its time passes, once", () => {
    const { drain, past } = track(getFailedAnswerDrain(50));
    drain.start();
    drain.start();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(500);
    drain.count(1);
    expect(past).toEqual(['timeout']);
  });

  it('kills as an abort past its bytes, once, and its clock stops then', () => {
    const { drain, past } = track();
    drain.start();
    drain.count(ABANDONED_DRAIN.maxBytes);
    expect(past).toEqual([]);
    drain.count(1);
    expect(past).toEqual(['abort']);
    drain.count(1);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10 * ABANDONED_DRAIN.ms);
    expect(past).toEqual(['abort']);
  });

  it('checks nothing once ended', () => {
    const { drain, past } = track();
    drain.start();
    drain.end();
    expect(vi.getTimerCount()).toBe(0);
    drain.count(10 * ABANDONED_DRAIN.maxBytes);
    vi.advanceTimersByTime(10 * ABANDONED_DRAIN.ms);
    expect(past).toEqual([]);
  });

  it('counts bytes before its turn, and never restarts its clock once ended', () => {
    const { drain, past } = track();
    drain.count(ABANDONED_DRAIN.maxBytes / 2);
    drain.count(ABANDONED_DRAIN.maxBytes / 2 + 1);
    expect(past).toEqual(['abort']);
    drain.start();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('has no clock with an endless bound', () => {
    const { drain, past } = track(getFailedAnswerDrain(Number.POSITIVE_INFINITY));
    drain.start();
    expect(vi.getTimerCount()).toBe(0);
    expect(past).toEqual([]);
  });
});
