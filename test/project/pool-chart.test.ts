import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { recordHistory, renderChart } from '../../examples/pool-chart.ts';
import type { PoolStats } from '../../src/index.ts';

// Only the fields the recorder reads; the rest of PoolStats does not matter to it.
const statsOf = (ok: number, p95: number): PoolStats =>
  ({ ok, failed: 0, aborted: 0, latency: { p95 } }) as unknown as PoolStats;

describe("the demo's pool chart", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts transforms that ended before the first tick in the first second', () => {
    let ended = 0;
    const history = recordHistory(() => statsOf(ended, 7));
    ended = 5;
    vi.advanceTimersByTime(1000);
    expect(history()).toEqual([{ rate: 5, p95: 7 }]);
    ended = 8;
    vi.advanceTimersByTime(1000);
    expect(history()).toEqual([
      { rate: 5, p95: 7 },
      { rate: 3, p95: 7 },
    ]);
    expect(renderChart(history())).toContain('req/s (max 5.0)');
  });

  it('keeps three minutes of samples, oldest dropped first', () => {
    let ended = 0;
    const history = recordHistory(() => statsOf(ended, 1));
    for (let second = 1; second <= 181; second++) {
      ended += second;
      vi.advanceTimersByTime(1000);
    }
    expect(history()).toHaveLength(180);
    expect(history()[0]?.rate).toBe(2);
    expect(history().at(-1)?.rate).toBe(181);
  });
});
