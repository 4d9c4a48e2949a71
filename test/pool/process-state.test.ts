// The lifecycle of one process, pure: a table of transitions (one row per case the process met, past defects
// named), then any run of events against a small reference model. No process, no timing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InFlight } from '../../src/pool/in-flight.ts';
import { carryOut, type Effect, type EffectHandlers } from '../../src/pool/process-effects.ts';
import {
  describeStart,
  isJoinable,
  type JoinFacts,
  type Life,
  type LifeEvent,
  type ProcessState,
  type StartPhase,
  transition,
} from '../../src/pool/process-state.ts';
import type { ExitReason } from '../../src/shared/events.ts';

/** Messages on board, by name; the first `answered` of them answered, the first `written` written. */
function board(names: string[], answered = 0, written = 0): InFlight<string> {
  const works = new InFlight<string>();
  for (const name of names) works.push(name);
  for (let index = 0; index < answered; index++) works.answer();
  for (let index = 0; index < written; index++) works.write();
  return works;
}

function busy(
  works = board(['a']),
  more: Partial<Extract<Life<string>, { kind: 'busy' }>> = {},
): Life<string> {
  return { kind: 'busy', works, retireAfter: undefined, abandoned: undefined, ...more };
}

const stopping = (reason: ExitReason, signalled: boolean, works = board([])): Life<string> => ({
  kind: 'stopping',
  reason,
  signalled,
  works,
});

/** What a transition is compared by: the next kind, its fields that matter, the start phase, the effects. */
function describeState({ life, start }: ProcessState<string>) {
  const fields =
    life.kind === 'busy'
      ? { retireAfter: life.retireAfter, abandoned: life.abandoned, works: [...life.works.entries] }
      : life.kind === 'stopping'
        ? { reason: life.reason, signalled: life.signalled, works: [...life.works.entries] }
        : {};
  return { kind: life.kind, ...fields, start };
}

/** Effects by their type, with their one field when they carry one. */
function names(effects: Effect<string>[]): string[] {
  return effects.map((effect) => {
    if (effect.type === 'hold-loop') return `hold-loop(${effect.hold})`;
    if (effect.type === 'release-behind') return `release-behind(${effect.work})`;
    if (effect.type === 'kill') return effect.foundDead ? 'kill(found dead)' : 'kill';
    if (effect.type === 'linger') return effect.closedStdout ? 'linger(closed stdout)' : 'linger';
    if (effect.type === 'stop-for') return `stop-for(${effect.culprit}, ${effect.reason})`;
    return effect.type;
  });
}

interface Row {
  name: string;
  life: Life<string>;
  start?: StartPhase;
  event: LifeEvent<string>;
  next: Record<string, unknown>;
  effects: string[];
}

const ROWS: Row[] = [
  {
    name: 'an idle process takes its first message: busy, holding the event loop, writing after a turn',
    life: { kind: 'idle' },
    event: { type: 'run', works: board(['a']) },
    next: { kind: 'busy', retireAfter: undefined, abandoned: undefined, works: ['a'] },
    effects: ['hold-loop(true)', 'write'],
  },
  {
    name: 'a process that is not idle is never given a fresh board',
    life: busy(board(['a'])),
    event: { type: 'run', works: board(['b']) },
    next: { kind: 'busy', retireAfter: undefined, abandoned: undefined, works: ['a'] },
    effects: [],
  },
  {
    name: 'retired while busy: it takes no more, the pool hears at once, it retires after the last message',
    life: busy(),
    event: { type: 'retire', reason: 'recycle' },
    next: { kind: 'busy', retireAfter: 'recycle', abandoned: undefined, works: ['a'] },
    effects: ['notify-retire'],
  },
  {
    name: 'retired a second time while busy: the first reason stands',
    life: busy(board(['a']), { retireAfter: 'crash' }),
    event: { type: 'retire', reason: 'recycle' },
    next: { kind: 'busy', retireAfter: 'crash', abandoned: undefined, works: ['a'] },
    effects: ['notify-retire'],
  },
  {
    name: 'retired while idle: stopping, its stdin ended',
    life: { kind: 'idle' },
    event: { type: 'retire', reason: 'reload' },
    next: { kind: 'stopping', reason: 'reload', signalled: false, works: [] },
    effects: ['notify-retire', 'end-input'],
  },
  {
    name: 'retired while the recycle policy decides: stopping (the verdict that follows finds nothing to do)',
    life: { kind: 'deciding' },
    event: { type: 'retire', reason: 'close' },
    next: { kind: 'stopping', reason: 'close', signalled: false, works: [] },
    effects: ['notify-retire', 'end-input'],
  },
  {
    name: 'retired once stopping: nothing more (the pool heard already)',
    life: stopping('recycle', false),
    event: { type: 'retire', reason: 'close' },
    next: { kind: 'stopping', reason: 'recycle', signalled: false, works: [] },
    effects: [],
  },
  {
    name: 'killed while busy: stopping, signalled, output never read again, fates told before the pool hears',
    life: busy(),
    start: 'answered',
    event: { type: 'stop', reason: 'protocol', works: board([]) },
    next: { kind: 'stopping', reason: 'protocol', signalled: true, works: [], start: 'answered' },
    effects: ['stop-reading', 'tell-fates', 'notify-retire', 'terminate'],
  },
  {
    name: 'killed after it was retired: it keeps the reason it was retired for',
    life: stopping('reload', false),
    event: { type: 'stop', reason: 'timeout', works: board([]) },
    start: 'answered',
    next: { kind: 'stopping', reason: 'reload', signalled: true, works: [], start: 'answered' },
    effects: ['stop-reading', 'tell-fates', 'notify-retire', 'terminate'],
  },
  {
    name: 'signals are sent once: a second stop does nothing',
    life: stopping('timeout', true),
    event: { type: 'stop', reason: 'protocol', works: board([]) },
    next: { kind: 'stopping', reason: 'timeout', signalled: true, works: [] },
    effects: [],
  },
  {
    name: 'killed by startTimeout without a byte of output: counted as a start failure now, before the pool hears',
    life: busy(),
    start: 'silent',
    event: { type: 'stop', reason: 'timeout', works: board(['a']) },
    next: { kind: 'stopping', reason: 'timeout', signalled: true, works: ['a'], start: 'failed' },
    effects: ['stop-reading', 'count-start-failure', 'tell-fates', 'notify-retire', 'terminate'],
  },
  {
    name: 'audit: killed by a timeout after it wrote output is no start failure',
    life: busy(),
    start: 'spoke',
    event: { type: 'stop', reason: 'timeout', works: board(['a']) },
    next: { kind: 'stopping', reason: 'timeout', signalled: true, works: ['a'], start: 'spoke' },
    effects: ['stop-reading', 'tell-fates', 'notify-retire', 'terminate'],
  },
  {
    name: 'a crash stop before a byte of output: the exit decides (it may be a start failure), so no replacement yet',
    life: busy(),
    start: 'silent',
    event: { type: 'stop', reason: 'crash', works: board(['a']) },
    next: { kind: 'stopping', reason: 'crash', signalled: true, works: ['a'], start: 'silent' },
    effects: ['stop-reading', 'tell-fates', 'terminate'],
  },
  {
    name: 'audit: a crash stop after it wrote output is no start failure: its replacement starts at once',
    life: busy(),
    start: 'spoke',
    event: { type: 'stop', reason: 'crash', works: board(['a']) },
    next: { kind: 'stopping', reason: 'crash', signalled: true, works: ['a'], start: 'spoke' },
    effects: ['stop-reading', 'tell-fates', 'notify-retire', 'terminate'],
  },
  {
    name: 'its first byte of output: it spoke',
    life: busy(),
    event: { type: 'output' },
    next: { kind: 'busy', start: 'spoke' },
    effects: [],
  },
  {
    name: 'output after its first answer changes nothing',
    life: busy(),
    start: 'answered',
    event: { type: 'output' },
    next: { kind: 'busy', start: 'answered' },
    effects: [],
  },
  {
    name: 'its first head: it has started, and the pool hears it once',
    life: busy(),
    start: 'spoke',
    event: { type: 'head', work: 'a', close: false },
    next: { kind: 'busy', retireAfter: undefined, start: 'answered' },
    effects: ['notify-started'],
  },
  {
    name: 'a later head: no second start',
    life: busy(),
    start: 'answered',
    event: { type: 'head', work: 'a', close: false },
    next: { kind: 'busy', retireAfter: undefined, start: 'answered' },
    effects: [],
  },
  {
    name: 'Connection: close: it retires after this answer, and the messages behind it go elsewhere',
    life: busy(board(['a', 'b'])),
    start: 'answered',
    event: { type: 'head', work: 'a', close: true },
    next: { kind: 'busy', retireAfter: 'recycle', start: 'answered' },
    effects: ['release-behind(a)'],
  },
  {
    name: 'a head once it is no longer busy does nothing',
    life: stopping('protocol', true),
    start: 'spoke',
    event: { type: 'head', work: 'a', close: true },
    next: { kind: 'stopping', start: 'spoke' },
    effects: [],
  },
  {
    name: 'issue row 6: a message whose body failed behind the answer being read waits for the answers ahead',
    life: busy(board(['a', 'b', 'c'], 0, 1)),
    start: 'answered',
    event: { type: 'abandon', work: 'b', reason: 'abort' },
    next: { kind: 'busy', retireAfter: 'abort', abandoned: 'b', works: ['a', 'b', 'c'] },
    effects: ['notify-retire', 'release-behind(b)'],
  },
  {
    name: 'the answer being read abandoned (a timeout): stopped now, charged to it',
    life: busy(board(['a', 'b'], 0, 1)),
    event: { type: 'abandon', work: 'a', reason: 'timeout' },
    next: { kind: 'busy', abandoned: undefined, works: ['a', 'b'] },
    effects: ['stop-for(a, timeout)'],
  },
  {
    name: 'abandoned while stopping with it on board: stopped now (a drain past its bound)',
    life: stopping('recycle', false, board(['a'])),
    event: { type: 'abandon', work: 'a', reason: 'abort' },
    next: { kind: 'stopping', reason: 'recycle', signalled: false },
    effects: ['stop-for(a, abort)'],
  },
  {
    name: 'abandoned when it is not on board: nothing',
    life: busy(board(['a'])),
    event: { type: 'abandon', work: undefined, reason: 'abort' },
    next: { kind: 'busy', abandoned: undefined },
    effects: [],
  },
  {
    name: 'abandoned with every answer in (none being read): stopped now, charged to it',
    life: busy(board(['a'], 1, 1)),
    event: { type: 'abandon', work: 'a', reason: 'abort' },
    next: { kind: 'busy', abandoned: undefined },
    effects: ['stop-for(a, abort)'],
  },
  {
    name: 'abandoned behind the answer being read while stopping: stopped now (nothing is taken any more)',
    life: stopping('recycle', false, board(['a', 'b'], 0, 2)),
    event: { type: 'abandon', work: 'b', reason: 'abort' },
    next: { kind: 'stopping', reason: 'recycle', signalled: false },
    effects: ['stop-for(b, abort)'],
  },
  {
    name: 'abandoned while idle: nothing',
    life: { kind: 'idle' },
    event: { type: 'abandon', work: 'a', reason: 'abort' },
    next: { kind: 'idle' },
    effects: [],
  },
  {
    name: 'its stdout ends once exited: nothing',
    life: { kind: 'exited' },
    event: { type: 'output-end' },
    next: { kind: 'exited' },
    effects: [],
  },
  {
    name: 'output cut short once stopping: nothing (the stop decided)',
    life: stopping('protocol', true, board(['a'])),
    event: { type: 'cut-short', work: 'a', unread: false },
    next: { kind: 'stopping', reason: 'protocol', signalled: true },
    effects: [],
  },
  {
    name: 'stdin gone once exited: nothing',
    life: { kind: 'exited' },
    event: { type: 'input-error', foundDead: false },
    next: { kind: 'exited' },
    effects: [],
  },
  {
    name: 'stdin gone while busy before a byte of output: the exit decides the backoff',
    life: busy(board(['a'], 0, 1)),
    start: 'silent',
    event: { type: 'input-error', foundDead: false },
    next: { kind: 'busy', retireAfter: 'crash' },
    effects: ['release-unwritten', 'linger'],
  },
  {
    name: 'the leader exits while idle: the pipes closing decide',
    life: { kind: 'idle' },
    event: { type: 'leader-exit', foundDead: true },
    next: { kind: 'idle' },
    effects: [],
  },
  {
    name: 'its stdout ends while idle: it can never answer again',
    life: { kind: 'idle' },
    event: { type: 'output-end' },
    next: { kind: 'idle' },
    effects: ['kill'],
  },
  {
    name: 'its stdout ends while busy: the output is finished first (a body delimited by the end)',
    life: busy(),
    event: { type: 'output-end' },
    next: { kind: 'busy' },
    effects: ['read-end'],
  },
  {
    name: 'its stdout ends while stopping: nothing (an error in it was reported once)',
    life: stopping('protocol', true),
    event: { type: 'output-end' },
    next: { kind: 'stopping' },
    effects: [],
  },
  {
    name: 'output cut short on a message it cannot have read: found dead, everything on board retried',
    life: busy(board(['a'])),
    event: { type: 'cut-short', work: 'a', unread: true },
    next: { kind: 'busy' },
    effects: ['kill(found dead)'],
  },
  {
    name: 'output cut short on a message it read: that one fails at the exit, those behind go now',
    life: busy(board(['a', 'b'], 0, 2)),
    start: 'spoke',
    event: { type: 'cut-short', work: 'a', unread: false },
    next: { kind: 'stopping', reason: 'crash', signalled: false, works: ['a', 'b'], start: 'spoke' },
    effects: ['release-behind(a)', 'notify-retire', 'linger(closed stdout)'],
  },
  {
    name: 'output cut short before a byte of it (never, but if): the exit decides the backoff',
    life: busy(board(['a'], 0, 1)),
    start: 'silent',
    event: { type: 'cut-short', work: 'a', unread: false },
    next: { kind: 'stopping', reason: 'crash', signalled: false, works: ['a'] },
    effects: ['release-behind(a)', 'linger(closed stdout)'],
  },
  {
    name: 'issue row 9: stdin gone while busy: read on to the end of output, those never written go now',
    life: busy(board(['a', 'b'], 0, 1)),
    start: 'answered',
    event: { type: 'input-error', foundDead: false },
    next: { kind: 'busy', retireAfter: 'crash', works: ['a', 'b'] },
    effects: ['release-unwritten', 'notify-retire', 'linger'],
  },
  {
    name: 'stdin gone before the message whose answer is next could be read: found dead',
    life: busy(),
    event: { type: 'input-error', foundDead: true },
    next: { kind: 'busy', retireAfter: undefined },
    effects: ['kill(found dead)'],
  },
  {
    name: 'stdin gone while idle: of no use any more',
    life: { kind: 'idle' },
    event: { type: 'input-error', foundDead: false },
    next: { kind: 'idle' },
    effects: ['kill'],
  },
  {
    name: 'stdin gone while stopping: nothing',
    life: stopping('recycle', false),
    event: { type: 'input-error', foundDead: true },
    next: { kind: 'stopping' },
    effects: [],
  },
  {
    name: 'the leader exits with the next message never written: found dead, retried now',
    life: busy(),
    event: { type: 'leader-exit', foundDead: true },
    next: { kind: 'busy' },
    effects: ['kill(found dead)'],
  },
  {
    name: 'the leader exits with a message read: the pipes closing decide',
    life: busy(),
    event: { type: 'leader-exit', foundDead: false },
    next: { kind: 'busy' },
    effects: [],
  },
  {
    name: 'its last message done: the recycle policy is asked, the event loop let go, output flowing',
    life: busy(board([])),
    event: { type: 'emptied', limitReached: false },
    next: { kind: 'deciding' },
    effects: ['resume-output', 'hold-loop(false)', 'ask-recycle'],
  },
  {
    name: 'its last message done after Connection: close: retired with that reason, not asked',
    life: busy(board([]), { retireAfter: 'crash' }),
    event: { type: 'emptied', limitReached: false },
    next: { kind: 'stopping', reason: 'crash', signalled: false },
    effects: ['resume-output', 'hold-loop(false)', 'notify-retire', 'end-input'],
  },
  {
    name: 'its last message done at maxRequestsPerProcess: retired for recycling',
    life: busy(board([])),
    event: { type: 'emptied', limitReached: true },
    next: { kind: 'stopping', reason: 'recycle', signalled: false },
    effects: ['resume-output', 'hold-loop(false)', 'notify-retire', 'end-input'],
  },
  {
    name: 'the recycle policy keeps it: idle, and the pool hears',
    life: { kind: 'deciding' },
    event: { type: 'verdict', retire: false },
    next: { kind: 'idle' },
    effects: ['notify-idle'],
  },
  {
    name: 'the recycle policy retires it: stopping',
    life: { kind: 'deciding' },
    event: { type: 'verdict', retire: true },
    next: { kind: 'stopping', reason: 'recycle', signalled: false },
    effects: ['notify-retire', 'end-input'],
  },
  {
    name: 'a verdict (an async hook) that comes once it was killed meanwhile: nothing',
    life: stopping('timeout', true),
    event: { type: 'verdict', retire: false },
    next: { kind: 'stopping', reason: 'timeout' },
    effects: [],
  },
  {
    name: 'exited from any state, with nothing to do (the exit is settled by the shell)',
    life: busy(),
    event: { type: 'closed' },
    next: { kind: 'exited' },
    effects: [],
  },
];

describe('transition', () => {
  it.each(ROWS)('$name', ({ life, start = 'silent', event, next, effects }) => {
    const result = transition({ life, start }, event);
    expect(describeState(result.state)).toMatchObject({ start, ...next });
    expect(names(result.effects)).toEqual(effects);
  });
});

describe('describeStart', () => {
  it('tells the exit what start-up got to', () => {
    expect((['silent', 'spoke', 'answered', 'failed'] as const).map(describeStart)).toEqual([
      { answered: false, wroteOutput: false, counted: false },
      { answered: false, wroteOutput: true, counted: false },
      { answered: true, wroteOutput: true, counted: false },
      { answered: false, wroteOutput: false, counted: true },
    ]);
  });
});

describe('carryOut', () => {
  it('hands each effect to its handler, in order, with the step of the event', () => {
    const calls: string[] = [];
    const record =
      (name: string) =>
      (effect: Effect<string>, step: (() => void) | undefined): void => {
        calls.push(`${name}:${names([effect])[0]}`);
        step?.();
      };
    const handlers = Object.fromEntries(
      ['hold-loop', 'write', 'tell-fates', 'terminate', 'release-behind'].map((type) => [type, record(type)]),
    ) as unknown as EffectHandlers<string>;
    const { effects } = transition<string>(
      { life: { kind: 'idle' }, start: 'silent' },
      { type: 'run', works: board(['a']) },
    );
    carryOut(effects, handlers, () => calls.push('step'));
    carryOut([{ type: 'release-behind', work: 'b' }, { type: 'terminate' }], handlers);
    expect(calls).toEqual([
      'hold-loop:hold-loop(true)',
      'step',
      'write:write',
      'step',
      'release-behind:release-behind(b)',
      'terminate:terminate',
    ]);
  });
});

const facts: JoinFacts = {
  onTrial: false,
  outputPaused: false,
  depth: 4,
  transforms: 0,
  maxRequestsPerProcess: Number.POSITIVE_INFINITY,
};

describe('isJoinable', () => {
  const written = (names: string[]) => board(names, 0, names.length);
  const cases: [string, ProcessState<string>, Partial<JoinFacts>, boolean][] = [
    [
      'a busy process that answered before, with room',
      { life: busy(written(['a'])), start: 'answered' },
      {},
      true,
    ],
    ['still starting: it proves nothing yet', { life: busy(written(['a'])), start: 'spoke' }, {}, false],
    ['idle (the pool gives it work as idle)', { life: { kind: 'idle' }, start: 'answered' }, {}, false],
    ['on trial after an edit', { life: busy(written(['a'])), start: 'answered' }, { onTrial: true }, false],
    [
      'its output waits on a client',
      { life: busy(written(['a'])), start: 'answered' },
      { outputPaused: true },
      false,
    ],
    ['retiring', { life: busy(written(['a']), { retireAfter: 'recycle' }), start: 'answered' }, {}, false],
    [
      'a message abandoned on board',
      { life: busy(written(['a']), { abandoned: 'a' }), start: 'answered' },
      {},
      false,
    ],
    [
      'issue row 6: a message still being written',
      { life: busy(board(['a'])), start: 'answered' },
      {},
      false,
    ],
    ['its pipeline full', { life: busy(written(['a', 'b'])), start: 'answered' }, { depth: 2 }, false],
    [
      'audit: maxRequestsPerProcess counts the messages on board (2 done + 1 on board of 3)',
      { life: busy(written(['a'])), start: 'answered' },
      { transforms: 2, maxRequestsPerProcess: 3 },
      false,
    ],
    [
      'one below maxRequestsPerProcess with the board',
      { life: busy(written(['a'])), start: 'answered' },
      { transforms: 1, maxRequestsPerProcess: 3 },
      true,
    ],
  ];
  it.each(cases)('%s', (_, state, more, joinable) => {
    expect(isJoinable(state, { ...facts, ...more })).toBe(joinable);
  });
});

/**
 * The reference: only the kind, whether it is to retire after its work, whether signals were sent, the start
 * phase, and what was heard once; every transition a line of plain rules.
 */
interface Model {
  kind: Life<string>['kind'];
  retiring: boolean;
  signalled: boolean;
  start: StartPhase;
  /** Effects the process may carry out at most once in its life. */
  once: Set<string>;
  held: boolean;
}
interface Real {
  state: ProcessState<string>;
}

/** Apply `event` to the real machine, and check the effects that may come once come once. */
function step(model: Model, real: Real, event: LifeEvent<string>): string[] {
  const result = transition(real.state, event);
  real.state = result.state;
  const effects = names(result.effects);
  for (const effect of ['count-start-failure', 'notify-started', 'end-input', 'terminate', 'stop-reading']) {
    const count = effects.filter((name) => name === effect).length;
    expect(count + (model.once.has(effect) ? 1 : 0)).toBeLessThanOrEqual(1);
    if (count > 0) model.once.add(effect);
  }
  // The event loop is held only while busy: let go exactly once after each hold.
  for (const effect of effects) {
    if (effect === 'hold-loop(true)') expect(model.held).toBe(false);
    if (effect === 'hold-loop(false)') expect(model.held).toBe(true);
    if (effect.startsWith('hold-loop')) model.held = effect === 'hold-loop(true)';
  }
  return effects;
}

function expectSame(model: Model, real: Real): void {
  const { life, start } = real.state;
  expect(life.kind).toBe(model.kind);
  expect(start).toBe(model.start);
  if (life.kind === 'busy') expect(life.retireAfter !== undefined).toBe(model.retiring);
  if (life.kind === 'stopping') expect(life.signalled).toBe(model.signalled);
  // Nothing after the exit, and the event loop never held by a process that is not busy.
  if (model.kind !== 'busy') expect(model.held).toBe(false);
}

type Command = fc.Command<Model, Real>;

/** A command from the event it sends and what the model makes of it. */
function command(
  name: string,
  event: () => LifeEvent<string>,
  apply: (model: Model, effects: string[]) => void,
): Command {
  return {
    toString: () => name,
    check: () => true,
    run(model, real) {
      const wasExited = model.kind === 'exited';
      const effects = step(model, real, event());
      if (wasExited) expect(effects).toEqual([]);
      apply(model, effects);
      expectSame(model, real);
    },
  };
}

/** Retire, in the model: busy marks it, idle or deciding stops it, stopping or exited ignore it. */
function retireModel(model: Model): void {
  if (model.kind === 'busy') model.retiring = true;
  else if (model.kind === 'idle' || model.kind === 'deciding') {
    model.kind = 'stopping';
    model.signalled = false;
  }
}

const reasons: ExitReason[] = ['crash', 'timeout', 'protocol', 'recycle', 'abort'];

const commands = [
  fc.constant(
    command(
      'run',
      () => ({ type: 'run', works: board(['m']) }),
      (model) => {
        if (model.kind !== 'idle') return;
        model.kind = 'busy';
        model.retiring = false;
      },
    ),
  ),
  fc.constant(
    command(
      'output',
      () => ({ type: 'output' }),
      (model) => {
        if (model.start === 'silent') model.start = 'spoke';
      },
    ),
  ),
  fc.boolean().map((close) =>
    command(
      `head(close ${close})`,
      () => ({ type: 'head', work: 'm', close }),
      (model) => {
        if (model.kind !== 'busy') return;
        model.start = 'answered';
        if (close) model.retiring = true;
      },
    ),
  ),
  fc
    .constantFrom(...reasons)
    .map((reason) => command(`retire(${reason})`, () => ({ type: 'retire', reason }), retireModel)),
  fc.constantFrom(...reasons).map((reason) =>
    command(
      `stop(${reason})`,
      () => ({ type: 'stop', reason, works: board([]) }),
      (model, effects) => {
        if (model.kind === 'exited' || (model.kind === 'stopping' && model.signalled)) return;
        // Held by a busy process: the exit lets it go with the process (the shell unrefs with the child).
        model.held = false;
        model.kind = 'stopping';
        model.signalled = true;
        const startFailure = reason === 'timeout' && model.start === 'silent';
        if (startFailure) model.start = 'failed';
        expect(effects.includes('count-start-failure')).toBe(startFailure);
        // A crash before a byte of output leaves the replacement to the exit (the backoff may hold it back).
        const silent = model.start === 'silent' || model.start === 'failed';
        expect(effects.includes('notify-retire')).toBe(!(reason === 'crash' && silent));
      },
    ),
  ),
  fc.boolean().map((limitReached) =>
    command(
      `emptied(limit ${limitReached})`,
      () => ({ type: 'emptied', limitReached }),
      (model) => {
        if (model.kind !== 'busy') return;
        if (model.retiring || limitReached) {
          model.kind = 'stopping';
          model.signalled = false;
        } else model.kind = 'deciding';
      },
    ),
  ),
  fc.boolean().map((retire) =>
    command(
      `verdict(${retire})`,
      () => ({ type: 'verdict', retire }),
      (model) => {
        if (model.kind !== 'deciding') return;
        model.kind = 'idle';
        if (retire) retireModel(model);
      },
    ),
  ),
  fc.constant(
    command(
      'closed',
      () => ({ type: 'closed' }),
      (model) => {
        model.kind = 'exited';
        model.held = false;
      },
    ),
  ),
];

describe('the lifecycle against a reference model', () => {
  it('agrees on every state, and says each once-only thing at most once, for any run of events', () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 40 }), (run) => {
        const model: Model = {
          kind: 'idle',
          retiring: false,
          signalled: false,
          start: 'silent',
          once: new Set(),
          held: false,
        };
        fc.modelRun(() => ({ model, real: { state: { life: { kind: 'idle' }, start: 'silent' } } }), run);
      }),
      { numRuns: 200 },
    );
    // A 10x margin on its run on a busy machine: Stryker runs it instrumented, two at a time.
  }, 60_000);
});
