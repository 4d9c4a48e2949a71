// What stats() reports, pure: each live process in exactly one state, and the counts and counters built from
// the processes given and the pool's recorder.
import { describe, expect, it } from 'vitest';
import { getProcessState, summarizeStats } from '../../src/pool/pool-stats.ts';
import { type ProcessStats, StatsRecorder } from '../../src/shared/stats.ts';

describe('getProcessState', () => {
  it('calls a process that takes no more work retiring, whatever else it does', () => {
    expect(getProcessState({ takesWork: false, busy: true, answered: true })).toBe('retiring');
    expect(getProcessState({ takesWork: false, busy: false, answered: false })).toBe('retiring');
  });

  it('counts a process running its first transform as busy: busy is the capacity in use', () => {
    expect(getProcessState({ takesWork: true, busy: true, answered: false })).toBe('busy');
    expect(getProcessState({ takesWork: true, busy: true, answered: true })).toBe('busy');
  });

  it('calls a free process idle once it has answered, starting before', () => {
    expect(getProcessState({ takesWork: true, busy: false, answered: true })).toBe('idle');
    expect(getProcessState({ takesWork: true, busy: false, answered: false })).toBe('starting');
  });
});

describe('summarizeStats', () => {
  const entry = (pid: number, state: ProcessStats['state']): ProcessStats => ({
    pid,
    state,
    transforms: pid,
    startedAt: 1000 + pid,
    onBoard: 0,
    pipeline: 1,
  });

  it('counts each process in its one state, and copies the counters, queue and backoff', () => {
    const recorder = new StatsRecorder();
    recorder.started = 7;
    recorder.exited = 2;
    recorder.restarted = 1;
    recorder.ok = 5;
    recorder.backoffs = 3;
    recorder.failedWith('ERR_TRANSFORM_TIMEOUT');
    recorder.failedWith('ERR_TRANSFORM_ABORTED');
    recorder.delivered(12);
    const processes = [
      entry(1, 'busy'),
      entry(2, 'idle'),
      entry(3, 'busy'),
      entry(4, 'retiring'),
      entry(5, 'starting'),
    ];
    const stats = summarizeStats(processes, recorder, { queued: 4, backingOff: true });
    expect(stats).toEqual({
      alive: 5,
      busy: 2,
      idle: 1,
      starting: 1,
      retiring: 1,
      queued: 4,
      started: 7,
      exited: 2,
      restarted: 1,
      ok: 5,
      failed: 1,
      aborted: 1,
      failedByCode: { ERR_TRANSFORM_TIMEOUT: 1 },
      timedOut: 1,
      backoffs: 3,
      backingOff: true,
      latency: recorder.getLatency(),
      latencyHistogram: recorder.getLatencyHistogram(),
      processes,
    });
    expect(stats.latency.count).toBe(1);
  });

  it('reports an empty pool as all zeros', () => {
    const stats = summarizeStats([], new StatsRecorder(), { queued: 0, backingOff: false });
    expect(stats).toMatchObject({
      alive: 0,
      busy: 0,
      idle: 0,
      starting: 0,
      retiring: 0,
      queued: 0,
      backingOff: false,
    });
  });
});
