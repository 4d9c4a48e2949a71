// The fate of each message on board when its process is stopped, as a table: one row per case the pool met,
// most of them past defects (named). Pure: no process, no timing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BoardedMessage, decideFates, type Fate, findCulprit } from '../../src/pool/fate.ts';

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
  /** The message a stale answer repeats the answer of, if on board. */
  repeated?: number;
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
  {
    name: 'issue row 4 pipelined: a repeat of an answer in the same read, while the next is answered: the repeated one fails, the next runs again',
    board: [answeredInRead, written],
    error: true,
    blameless: true,
    repeated: 0,
    fates: ['failed', 'run-again'],
  },
  {
    name: 'a repeat of an answer already handed out: that answer stands; the ones behind run again, the unread given back',
    board: [handedOut, answeredInRead, written, unread],
    error: true,
    blameless: true,
    repeated: 0,
    fates: ['run-again', 'run-again', 'run-again', 'given-back'],
  },
  {
    name: 'a repeat after every answer on board, of one before the last: only the repeated one fails',
    board: [answeredInRead, answeredInRead],
    error: true,
    blameless: true,
    repeated: 0,
    fates: ['failed', 'run-again'],
  },
];

describe('decideFates', () => {
  it.each(ROWS)('$name', ({ board, named, error, blameless, repeated, fates }) => {
    const culprit = findCulprit(board, named);
    expect(decideFates(board, { culprit, error, blameless, repeated })).toEqual(fates);
  });

  it('charges a stop to the named message, else the answer being read, else the last answered', () => {
    expect(findCulprit([handedOut, written, written], 2)).toBe(2);
    expect(findCulprit([handedOut, written], -1)).toBeUndefined();
    expect(findCulprit([handedOut, written, written], undefined)).toBe(1);
    expect(findCulprit([handedOut, answeredInRead], undefined)).toBe(1);
    expect(findCulprit([], undefined)).toBeUndefined();
  });
});

/** Any message on board: handed out only if answered, unread only if not answered. */
const boardedMessage = fc
  .record({ answered: fc.boolean(), closed: fc.boolean(), unread: fc.boolean() })
  .map(({ answered, closed, unread }) => ({
    answered,
    closed: answered && closed,
    unread: !answered && unread,
  }));

/**
 * A board of up to 8 messages and a stop: a culprit named (or not found: -1) or left to findCulprit, and the
 * message a stale answer repeats, if any.
 */
const boardAndStop = fc.array(boardedMessage, { maxLength: 8 }).chain((board) =>
  fc.record({
    board: fc.constant(board),
    named: fc.option(fc.integer({ min: -1, max: board.length - 1 }), { nil: undefined }),
    error: fc.boolean(),
    blameless: fc.boolean(),
    // A repeat can only name a message answered already (or none on board: -1).
    repeated: fc.option(
      fc.constantFrom(-1, ...board.flatMap((message, index) => (message.answered ? [index] : []))),
      { nil: undefined },
    ),
  }),
);

type StopRow = Pick<Row, 'board' | 'named' | 'error' | 'blameless' | 'repeated'>;

/** The message a repeat names fails now: it is not handed out and an error is given. */
const failsForRepeat = (row: StopRow, index: number) =>
  index === row.repeated && row.error && !(row.board[index] as BoardedMessage).closed;

describe('decideFates, for any board and stop', () => {
  const fatesOf = ({ board, named, error, blameless, repeated }: StopRow) =>
    decideFates(board, { culprit: findCulprit(board, named), error, blameless, repeated });

  it('gives one fate per message', () => {
    fc.assert(fc.property(boardAndStop, (row) => fatesOf(row).length === row.board.length));
  });

  it('fails nothing now when no error is given (the exit tells) or nobody is to blame but the repeated one', () => {
    fc.assert(
      fc.property(boardAndStop, (row) => {
        if (row.error && !row.blameless) return true;
        return fatesOf(row).every((fate, index) => fate !== 'failed' || failsForRepeat(row, index));
      }),
    );
  });

  it('fails the message a repeat names unless its answer was handed out; runs it again never', () => {
    fc.assert(
      fc.property(boardAndStop, (row) => {
        const fates = fatesOf(row);
        if (row.repeated === undefined || row.repeated === -1 || !row.error) return true;
        const closed = (row.board[row.repeated] as BoardedMessage).closed;
        return (
          fates[row.repeated] === (closed ? fatesOf({ ...row, repeated: undefined })[row.repeated] : 'failed')
        );
      }),
    );
  });

  it('gives back every message no transform can have read when nobody is to blame', () => {
    fc.assert(
      fc.property(boardAndStop, (row) => {
        const fates = fatesOf(row);
        return row.board.every(
          (message, index) => !row.blameless || !message.unread || fates[index] === 'given-back',
        );
      }),
    );
  });

  it('fails only the culprit and answers completed in the read that broke the protocol', () => {
    fc.assert(
      fc.property(boardAndStop, (row) => {
        const culprit = findCulprit(row.board, row.named);
        return fatesOf(row).every(
          (fate, index) =>
            fate !== 'failed' ||
            index === culprit ||
            failsForRepeat(row, index) ||
            ((row.board[index] as BoardedMessage).answered && !(row.board[index] as BoardedMessage).closed),
        );
      }),
    );
  });

  it('fails the culprit when an error is given and someone is to blame', () => {
    fc.assert(
      fc.property(boardAndStop, (row) => {
        const culprit = findCulprit(row.board, row.named);
        if (culprit === undefined || !row.error || row.blameless) return true;
        return fatesOf(row)[culprit] === 'failed';
      }),
    );
  });

  it('never leaves a message that is not the culprit to the exit unless its answer came whole', () => {
    fc.assert(
      fc.property(boardAndStop, (row) => {
        const culprit = findCulprit(row.board, row.named);
        return fatesOf(row).every(
          (fate, index) =>
            fate !== 'kept' || index === culprit || (row.board[index] as BoardedMessage).answered,
        );
      }),
    );
  });
});
