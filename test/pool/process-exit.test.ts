// What each message still on board is told when its process ends: carried out in board order, newest first,
// with recording exchanges so every call is seen in order.
import { describe, expect, it } from 'vitest';
import type { Exchange } from '../../src/pool/exchange.ts';
import { InFlight } from '../../src/pool/in-flight.ts';
import { describeExit, settleExit, tellFates } from '../../src/pool/process-exit.ts';
import { TransformError } from '../../src/shared/errors.ts';

interface Work {
  exchange: Exchange;
  name: string;
}

/** A message on board whose exchange writes each call it gets into `calls`. */
function createWork(name: string, calls: string[], hasOutput = false): Work {
  const exchange = {
    hasOutput,
    deliver: () => calls.push(`${name}.deliver`),
    onDone: () => calls.push(`${name}.onDone`),
    onNotRead: (error: TransformError) => calls.push(`${name}.onNotRead(${error.message})`),
    onFailed: (error: TransformError, unanswered: boolean) =>
      calls.push(`${name}.onFailed(${error.message}, ${unanswered})`),
  };
  return { exchange: exchange as unknown as Exchange, name };
}

const exited = new TransformError('ERR_TRANSFORM_EXIT', 'exited');
const victim = new TransformError('ERR_TRANSFORM_EXIT', 'victim');

function createBoard(calls: string[], hasOutput = false): InFlight<Work> {
  const board = new InFlight<Work>();
  for (const name of ['a', 'b', 'c']) board.push(createWork(name, calls, name === 'b' && hasOutput));
  return board;
}

function settle(
  board: InFlight<Work>,
  calls: string[],
  options: { unread?: boolean; spawnFailed?: boolean; trial?: boolean },
) {
  settleExit(board, {
    spawnFailed: options.spawnFailed ?? false,
    trialBeforeAnswer: options.trial ?? false,
    failure: () => exited,
    unread: () => options.unread ?? false,
    release: (work) => calls.push(`${work.name}.release`),
    count: () => calls.push('count'),
  });
}

describe('settleExit', () => {
  it('hands out an answer that came whole, fails the one being answered, releases those behind, newest first', () => {
    const calls: string[] = [];
    const board = createBoard(calls);
    board.answer();
    settle(board, calls, {});
    expect(calls).toEqual(['c.release', 'b.onFailed(exited, false)', 'count', 'a.deliver', 'a.onDone']);
  });

  it('gives back the message being answered when it cannot have been read', () => {
    const calls: string[] = [];
    settle(createBoard(calls), calls, { unread: true });
    expect(calls).toEqual(['c.release', 'b.release', 'a.onNotRead(exited)']);
  });

  it('fails it, never gives it back, when the command could not be started', () => {
    const calls: string[] = [];
    settle(createBoard(calls), calls, { unread: true, spawnFailed: true });
    expect(calls.at(-1)).toBe('a.onFailed(exited, false)');
  });

  it('runs it again when a process on trial dies before its first answer, unless it wrote output for it', () => {
    const calls: string[] = [];
    const board = createBoard(calls, true);
    board.answer();
    settle(board, calls, { trial: true });
    expect(calls).toContain('b.onFailed(exited, false)');
    const fresh: string[] = [];
    settle(createBoard(fresh), fresh, { trial: true });
    expect(fresh.at(-1)).toBe('a.onFailed(exited, true)');
  });
});

describe('tellFates', () => {
  it('tells each message its fate, newest first, and leaves the kept ones for the exit', () => {
    const calls: string[] = [];
    const works = ['a', 'b', 'c', 'd'].map((name) => createWork(name, calls));
    tellFates(works, ['kept', 'given-back', 'failed', 'run-again'], victim);
    expect(calls).toEqual(['d.onFailed(victim, true)', 'c.onFailed(victim, false)', 'b.onNotRead(victim)']);
  });
});

describe('describeExit', () => {
  it('says how the process closed, why, and what it had done', () => {
    const exit = describeExit({ exitCode: 1 }, 'crash', {
      spawnFailed: false,
      answered: true,
      wroteOutput: true,
      messageId: 'm',
      counted: false,
      startedAt: Date.now() - 60_000,
      stderr: 'tail',
    });
    expect(exit).toMatchObject({
      exitCode: 1,
      signal: undefined,
      reason: 'crash',
      cause: undefined,
      spawnFailed: false,
      answered: true,
      wroteOutput: true,
      messageId: 'm',
      counted: false,
      stderr: 'tail',
    });
    expect(exit.uptime).toBeGreaterThanOrEqual(60_000);
    expect(Object.keys(exit)).not.toContain('startedAt');
  });
});
