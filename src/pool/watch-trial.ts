// The watch trial: after a watched source changed, one process runs the changed sources beside the old ones,
// outside the serving set, and takes the next new transform before them. Once it has answered it joins the
// serving set and the old processes retire as with `reload()`; if it dies first, the old ones serve on and
// the next change tries again. watch-reload.ts carries out what this decides.
import { describeStartFailure } from './backoff.ts';
import type { ProcessExit } from './process-exit.ts';

/** What a trial needs to know of its process. */
export interface TrialProcess {
  /** It has answered a transform: the changed sources work. */
  readonly answered: boolean;
}

/**
 * none -> running (start: a new process on trial, starting or running its transform);
 * running -> waiting (idle and unproven, no new transform for it) -> running (take: a new transform came);
 * running | waiting -> none (promoted after its answer, exited, or ended by a reload, a later change or close).
 * Events flow one way: the pool tells the trial what happened, the trial says what to do.
 */
type TrialState<P> =
  | { kind: 'none' }
  | { kind: 'running'; process: P; path: string }
  | { kind: 'waiting'; process: P; path: string };

/**
 * What a process that went idle does, given whether it is the one on trial, whether it has answered, and
 * whether a new transform waits for it; pure. `retire`: a trial given up on (a later change, a reload) that
 * finished its transform. `promote`: proven, it joins the serving set. `run`: it takes that new transform (a
 * retried one has failed once already and goes to a proven process). `wait`: it waits for one.
 */
export function judgeTrialIdle(
  onTrial: boolean,
  answered: boolean,
  newWork: boolean,
): 'retire' | 'promote' | 'run' | 'wait' {
  if (!onTrial) return 'retire';
  if (answered) return 'promote';
  return newWork ? 'run' : 'wait';
}

/**
 * Whether a trial process's exit is worth a log line: it was the one on trial and died before it answered,
 * for a reason other than the pool closing; pure.
 */
export function isFailedTrial(onTrial: boolean, exit: { answered: boolean; reason: string }): boolean {
  return onTrial && !exit.answered && exit.reason !== 'close';
}

/**
 * The log line for a process that ran edited sources (watch) and died before its first answer: what it did,
 * the change it ran, what serves instead (`outcome`), and its stderr tail.
 */
export function describeFailedEdit(
  command: string,
  pid: number | undefined,
  exit: ProcessExit,
  path: string | undefined,
  outcome: string,
): string {
  const stderr = exit.stderr?.trimEnd();
  return `subprocess-transform: transform "${command}"${pid === undefined ? '' : ` (pid ${pid})`} ${describeStartFailure(exit)} after a change to ${path}; ${outcome}${stderr ? `; its stderr ends:\n${stderr}` : ''}`;
}

/** The one process on trial after a watched change, if any. */
export class WatchTrial<P extends TrialProcess> {
  #state: TrialState<P> = { kind: 'none' };

  /** Where the trial is (for the pool's checks and the tests). */
  get kind(): TrialState<P>['kind'] {
    return this.#state.kind;
  }

  /** A process on trial is idle, waiting for a new transform: the next one goes to it, before any other. */
  get waiting(): boolean {
    return this.#state.kind === 'waiting';
  }

  /** Whether `process` is the one on trial. */
  has(process: P): boolean {
    const state = this.#state;
    return state.kind !== 'none' && state.process === process;
  }

  /** none -> running: `process` tries the change at `path`; the process on trial before, if any, to retire. */
  start(process: P, path: string): P | undefined {
    const previous = this.end();
    this.#state = { kind: 'running', process, path };
    return previous;
  }

  /** -> none: the trial is given up; its process, if any, to retire (after the transform it runs). */
  end(): P | undefined {
    const state = this.#state;
    this.#state = { kind: 'none' };
    return state.kind === 'none' ? undefined : state.process;
  }

  /** waiting -> running: a new transform came; the process on trial takes it. */
  take(): P | undefined {
    const state = this.#state;
    if (state.kind !== 'waiting') return undefined;
    this.#state = { kind: 'running', process: state.process, path: state.path };
    return state.process;
  }

  /**
   * `process` went idle (see {@link judgeTrialIdle}); `newWork` says whether a new transform waits. A
   * promotion ends the trial and names the path it proved; a wait makes the trial `waiting`.
   */
  onIdle(
    process: P,
    newWork: boolean,
  ): { verdict: 'retire' | 'run' | 'wait' } | { verdict: 'promote'; path: string } {
    const state = this.#state;
    const onTrial = state.kind !== 'none' && state.process === process;
    const verdict = judgeTrialIdle(onTrial, process.answered, newWork);
    if (state.kind === 'none' || verdict === 'retire') return { verdict: 'retire' };
    if (verdict === 'promote') {
      this.#state = { kind: 'none' };
      return { verdict, path: state.path };
    }
    const kind = verdict === 'wait' ? 'waiting' : 'running';
    this.#state = { kind, process: state.process, path: state.path };
    return { verdict };
  }

  /** `process` exited: the trial ends if it was the one on trial; whether it was. */
  onExit(process: P): boolean {
    if (!this.has(process)) return false;
    this.#state = { kind: 'none' };
    return true;
  }
}
