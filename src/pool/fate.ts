// Which fate each message on board meets when its process is stopped: decided here, from facts alone, so the
// rule reads in one place and a table of cases (test/pool/fate.test.ts, one row per past defect) pins it down.

/** What is known of one message on board when its process is stopped. */
export interface BoardedMessage {
  /** Its answer was parsed to its end. */
  answered: boolean;
  /** Its answer was handed out whole, after the read that completed it parsed cleanly. */
  closed: boolean;
  /** No transform can have read it: not a byte of it reached the pipe, or the pipe was closed before it. */
  unread: boolean;
}

/** What stopped the process, and who is to blame. */
export interface Stop {
  /** The index of the message the stop is charged to, if any is on board. */
  culprit: number | undefined;
  /** An error is given now (a protocol error, a kill for a fault seen): without one, the exit tells. */
  error: boolean;
  /** Nobody on board is at fault (a stale answer, a process found dead, a broken edit on trial). */
  blameless: boolean;
  /**
   * The index of the answered message whose answer came a second time (a stale answer), if on board: it
   * misbehaved, so it fails unless its answer was handed out already; the stop stays blameless for the rest.
   */
  repeated?: number | undefined;
}

/**
 * `kept`: told at the exit (an answer that came whole stands; a culprit with no error given learns from the
 * exit how the process ended); `given-back`: run again as if never taken (no attempt); `failed`: fails now
 * with the error, never run again; `run-again`: not at fault, so run again once elsewhere, if what was read of its
 * handler's body can be sent again, else it fails; an answer already handed out whole stands (the exchange
 * decides both).
 */
export type Fate = 'kept' | 'given-back' | 'failed' | 'run-again';

/**
 * The fate of each message on board, in board order, when its process is stopped. The culprit fails, unless
 * nobody is to blame (then it runs again) or no error is given (then the exit tells it). A message no
 * transform can have read is given back whenever nobody is to blame. An answer that came whole stands,
 * unless the read that completed it broke the protocol before it was handed out: bytes left over after it
 * cast doubt on it. Every other message was waiting behind the culprit and runs again. A message whose answer
 * came twice fails, unless its first answer was handed out: run again, it would answer twice again beside
 * whoever is behind it.
 */
export function decideFates(board: readonly BoardedMessage[], stop: Stop): Fate[] {
  return board.map((message, index) => {
    if (index === stop.repeated && stop.error && !message.closed) return 'failed';
    const isCulprit = index === stop.culprit;
    if (isCulprit ? !stop.error && !stop.blameless : message.answered && !stop.error) return 'kept';
    if (stop.blameless && message.unread) return 'given-back';
    if (isCulprit) return stop.blameless ? 'run-again' : 'failed';
    if (stop.error && !stop.blameless && message.answered && !message.closed) return 'failed';
    return 'run-again';
  });
}

/** The message a stop is charged to: the one named, or the answer being read, or the last answered. */
export function findCulprit(board: readonly BoardedMessage[], named: number | undefined): number | undefined {
  if (named !== undefined) return named === -1 ? undefined : named;
  const reading = board.findIndex((message) => !message.answered);
  if (reading !== -1) return reading;
  return board.length > 0 ? board.length - 1 : undefined;
}
