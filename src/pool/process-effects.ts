// What the lifecycle of a process (process-state.ts) asks its shell (process.ts) to do, one effect per step,
// and the loop that carries a transition's effects out in their order. Pure: the shell supplies the handlers.
import type { ExitReason } from '../shared/events.ts';

/** One step the shell carries out; `W` is a message on board, never looked inside here. */
export type Effect<W> =
  /** Hold the parent's event loop open (while it works) or not. */
  | { type: 'hold-loop'; hold: boolean }
  /** Start writing the messages on board, after one turn of the event loop. */
  | { type: 'write' }
  /** Tell the pool it takes no more work (it may start a replacement). */
  | { type: 'notify-retire' }
  | { type: 'notify-started' }
  | { type: 'notify-idle' }
  /** Count its end as a start failure now, so the backoff holds its replacement back. */
  | { type: 'count-start-failure' }
  | { type: 'ask-recycle' }
  /** End its stdin: it stops once it has read all. */
  | { type: 'end-input' }
  /** Never read another byte of its output. */
  | { type: 'stop-reading' }
  /** Tell each message on board its fate at the stop. */
  | { type: 'tell-fates' }
  /** SIGTERM, then SIGKILL after a grace. */
  | { type: 'terminate' }
  | { type: 'resume-output' }
  /** Finish the output: complete a body delimited by its end, then judge what is left on board. */
  | { type: 'read-end' }
  /** Run the messages behind `work` again elsewhere. */
  | { type: 'release-behind'; work: W }
  /** Those never written go elsewhere now. */
  | { type: 'release-unwritten' }
  /** Stop now for a crash; `foundDead`: nobody on board is to blame (all retried). */
  | { type: 'kill'; foundDead: boolean }
  /** Stop now, charged to `culprit`, which learns at the exit how the process ended. */
  | { type: 'stop-for'; culprit: W; reason: ExitReason }
  /** Stop one that lingers a grace later; `closedStdout`: the message being answered fails with that. */
  | { type: 'linger'; closedStdout: boolean };

/** How the shell carries out each kind of effect; `step` is the event's own part (`write`, `tell-fates`). */
export type EffectHandlers<W> = {
  [K in Effect<W>['type']]: (effect: Extract<Effect<W>, { type: K }>, step: (() => void) | undefined) => void;
};

/** Carry out `effects` in their order. */
export function carryOut<W>(
  effects: readonly Effect<W>[],
  handlers: EffectHandlers<W>,
  step?: () => void,
): void {
  for (const effect of effects) {
    (handlers[effect.type] as (effect: Effect<W>, step: (() => void) | undefined) => void)(effect, step);
  }
}
