// What a pool's `stats()` reports: each live process in exactly one state, and the counters kept by
// shared/stats.ts. pool.ts gives the facts; the rules here are pure.
import type { PoolStats, ProcessState, ProcessStats, StatsRecorder } from '../shared/stats.ts';

/** What the state of a live process depends on. */
export interface ProcessFacts {
  /** It takes work: in the serving set, or on trial after a watched change. */
  takesWork: boolean;
  /** It runs a transform, its first one included. */
  busy: boolean;
  answered: boolean;
}

/**
 * The one state a live process is in, pure: a process that takes no more work is retiring; one running a
 * transform is busy (its first one included, so `busy` is the capacity in use); else idle once it has
 * answered, starting before.
 */
export function getProcessState(facts: ProcessFacts): ProcessState {
  if (!facts.takesWork) return 'retiring';
  if (facts.busy) return 'busy';
  return facts.answered ? 'idle' : 'starting';
}

/** The pool's stats from its live processes (oldest first), its counters, its queue and its backoff. */
export function summarizeStats(
  processes: ProcessStats[],
  recorder: StatsRecorder,
  pool: { queued: number; backingOff: boolean },
): PoolStats {
  const counts: Record<ProcessState, number> = { starting: 0, idle: 0, busy: 0, retiring: 0 };
  for (const process of processes) counts[process.state]++;
  return {
    alive: processes.length,
    busy: counts.busy,
    idle: counts.idle,
    starting: counts.starting,
    retiring: counts.retiring,
    queued: pool.queued,
    started: recorder.started,
    exited: recorder.exited,
    restarted: recorder.restarted,
    ok: recorder.ok,
    failed: recorder.failed,
    aborted: recorder.aborted,
    failedByCode: recorder.getFailedByCode(),
    timedOut: recorder.timedOut,
    backoffs: recorder.backoffs,
    backingOff: pool.backingOff,
    latency: recorder.getLatency(),
    latencyHistogram: recorder.getLatencyHistogram(),
    processes,
  };
}
