// The fate of each message on board when its process is stopped, as a table: one row per case the pool met,
// most of them past defects (named). Pure: no process, no timing.
import { describe, expect, it } from 'vitest';
import { type BoardedMessage, decideFates, type Fate, findCulprit } from '../src/pool/fate.ts';

/** An answer parsed whole and handed out. */
const handedOut: BoardedMessage = { answered: true, closed: true, unread: false };
/** An answer parsed whole in the read under way, not handed out yet. */
const answeredInRead: BoardedMessage = { answered: true, closed: false, unread: false };
/** Written (at least in part), no answer yet. */
const written: BoardedMessage = { answered: false, closed: false, unread: false };
/** Not a byte of it reached the pipe, or the pipe was closed before it. */
const unread: BoardedMessage = { answered: false, closed: false, unread: true };

interface Row {
  name: string;
  board: BoardedMessage[];
  /** The culprit named by the stop; undefined: the answer being read, or the last answered. */
  named?: number;
  error: boolean;
  blameless: boolean;
  fates: Fate[];
}

const ROWS: Row[] = [
  {
    name: 'a crash on the message being answered: the exit tells it; the answer ahead stands; the one behind runs again',
    board: [handedOut, written, written],
    error: false,
    blameless: false,
    fates: ['kept', 'kept', 'run-again'],
  },
  {
    name: 'a protocol error in the read that completed the answer ahead: bytes left over cast doubt on it, it fails too',
    board: [answeredInRead, written],
    error: true,
    blameless: false,
    fates: ['failed', 'failed'],
  },
  {
    name: 'issue row 2: an innocent handed out whole before a bad answer behind it is not charged with it',
    board: [handedOut, written],
    error: true,
    blameless: false,
    fates: ['run-again', 'failed'],
  },
  {
    name: 'a stale answer: nobody on board is to blame; the unread one is given back, not counted as an attempt',
    board: [handedOut, written, unread],
    error: true,
    blameless: true,
    fates: ['run-again', 'run-again', 'given-back'],
  },
  {
    name: 'a process found dead before it read its message: given back, so meeting a second dead one cannot use up its retry',
    board: [unread],
    error: true,
    blameless: true,
    fates: ['given-back'],
  },
  {
    name: 'a wrong id on the message being answered: it fails; the ones behind run again, read or not',
    board: [written, written, unread],
    error: true,
    blameless: false,
    fates: ['failed', 'run-again', 'run-again'],
  },
  {
    name: 'a client that left past the drain bound (no error given): the culprit learns at the exit, answers ahead stand',
    board: [handedOut, written, written],
    named: 1,
    error: false,
    blameless: false,
    fates: ['kept', 'kept', 'run-again'],
  },
  {
    name: 'a kill with nothing unanswered (a second answer after the last): charged to the last answered',
    board: [handedOut, answeredInRead],
    error: true,
    blameless: false,
    fates: ['run-again', 'failed'],
  },
  {
    name: 'a broken edit on trial dies before its first answer: its message, read, runs again once on an old process',
    board: [written],
    error: true,
    blameless: true,
    fates: ['run-again'],
  },
  {
    name: 'close() with work still running: every message fails with the error given, answers whole stand',
    board: [handedOut, written, written],
    error: true,
    blameless: false,
    fates: ['run-again', 'failed', 'run-again'],
  },
  {
    name: 'nobody to blame and no error given: the message being answered is not left to the exit, it runs again',
    board: [written, written],
    error: false,
    blameless: true,
    fates: ['run-again', 'run-again'],
  },
];

describe('decideFates', () => {
  it.each(ROWS)('$name', ({ board, named, error, blameless, fates }) => {
    const culprit = findCulprit(board, named);
    expect(decideFates(board, { culprit, error, blameless })).toEqual(fates);
  });

  it('charges a stop to the named message, else the answer being read, else the last answered', () => {
    expect(findCulprit([handedOut, written, written], 2)).toBe(2);
    expect(findCulprit([handedOut, written], -1)).toBeUndefined();
    expect(findCulprit([handedOut, written, written], undefined)).toBe(1);
    expect(findCulprit([handedOut, answeredInRead], undefined)).toBe(1);
    expect(findCulprit([], undefined)).toBeUndefined();
  });
});
