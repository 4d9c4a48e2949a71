// The decisions of one exchange that need no clock and no process, as pure functions with a table of cases
// each (test/pool/exchange-verdicts.test.ts): the time its answer is given, and what becomes of it when its
// process fails. exchange.ts carries them out; what a timeout says is errors.ts.

/** Its output, as far as the transform got: what a timeout message says it failed to do. */
export type Output = 'none' | 'started' | 'answered';

/** What the process on its turn is like, and the pool's two clocks. */
export interface TurnClock {
  /** Whether the process has answered before: until then it may still be loading. */
  answered: boolean;
  /** `Date.now()` at its spawn, and now. */
  startedAt: number;
  now: number;
  timeout: number;
  startTimeout: number;
}

/**
 * The ms its answer head is given from its turn: `timeout`; or, from a process that has not answered yet,
 * what is left of `startTimeout` since its spawn, never less than the shorter of the two (for one that sat
 * idle before its first message).
 */
export function computeTurnBudget(clock: TurnClock): number {
  const { answered, startedAt, now, timeout, startTimeout } = clock;
  if (answered) return timeout;
  return Math.max(startedAt + startTimeout - now, Math.min(timeout, startTimeout));
}

/** An exchange at the moment its process fails. */
export interface FailedExchange {
  /** Its state: no head yet, a head parsed (handed out or not), or its answer being dropped. */
  stage: 'running' | 'streaming' | 'discarding';
  /** The caller has its Response already. */
  handedOut: boolean;
  output: Output;
  /** The process is gone for a reason that is not this message's (see Exchange.onFailed). */
  unanswered: boolean;
  /** Times it was run, this one included. */
  attempts: number;
  /** What was read of the handler's body can be sent again. */
  replayable: boolean;
}

/**
 * Its fate when its process fails. `stands`: its answer came whole and was handed out before a stale one
 * followed it. `retry`: run once more elsewhere, as long as no answer was handed out and the message can be
 * sent again. `fail`: otherwise.
 */
export function judgeFailure(exchange: FailedExchange): 'stands' | 'retry' | 'fail' {
  const { stage, handedOut, output, unanswered, attempts, replayable } = exchange;
  if (!unanswered) return 'fail';
  if (stage === 'streaming' && handedOut && output === 'answered') return 'stands';
  // Running, or its head parsed but not handed out (a stale answer came right behind it in the same read).
  const pending = stage === 'running' || (stage === 'streaming' && !handedOut);
  return pending && attempts === 1 && replayable ? 'retry' : 'fail';
}
