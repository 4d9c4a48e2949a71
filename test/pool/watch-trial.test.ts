// The watch trial, pure: what a process that went idle does, which exits are worth a log line and what it
// says, and the trial's lifecycle run against a small reference model (fast-check commands).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ProcessExit } from '../../src/pool/process-exit.ts';
import { describeFailedEdit, isFailedTrial, judgeTrialIdle, WatchTrial } from '../../src/pool/watch-trial.ts';

describe('judgeTrialIdle', () => {
  it('retires a process no longer on trial (a later change or a reload gave it up)', () => {
    expect(judgeTrialIdle(false, true, true)).toBe('retire');
    expect(judgeTrialIdle(false, false, false)).toBe('retire');
  });

  it('promotes the process on trial once it has answered, whether work waits or not', () => {
    expect(judgeTrialIdle(true, true, false)).toBe('promote');
    expect(judgeTrialIdle(true, true, true)).toBe('promote');
  });

  it('gives an unproven process on trial a new transform, or lets it wait for one', () => {
    expect(judgeTrialIdle(true, false, true)).toBe('run');
    expect(judgeTrialIdle(true, false, false)).toBe('wait');
  });
});

const exit = (over: Partial<ProcessExit>): ProcessExit => ({
  exitCode: 1,
  signal: undefined,
  spawnFailed: false,
  reason: 'crash',
  answered: false,
  wroteOutput: false,
  messageId: undefined,
  counted: false,
  uptime: 5,
  cause: undefined,
  stderr: undefined,
  ...over,
});

describe('isFailedTrial', () => {
  it('logs the process on trial that died before its first answer', () => {
    expect(isFailedTrial(true, exit({}))).toBe(true);
    expect(isFailedTrial(true, exit({ reason: 'timeout' }))).toBe(true);
  });

  it('is silent for an answered one, one ended by close, and one no longer on trial', () => {
    expect(isFailedTrial(true, exit({ answered: true }))).toBe(false);
    expect(isFailedTrial(true, exit({ reason: 'close' }))).toBe(false);
    expect(isFailedTrial(false, exit({}))).toBe(false);
  });
});

describe('describeFailedEdit', () => {
  it('names the command, pid, what it did, the change and what serves instead, with its stderr tail', () => {
    expect(
      describeFailedEdit('node render.js', 41, exit({ stderr: 'SyntaxError\n\n' }), 'a.js', 'the old serve'),
    ).toBe(
      'subprocess-transform: transform "node render.js" (pid 41) exited with code 1 before its first answer after a change to a.js; the old serve; its stderr ends:\nSyntaxError',
    );
  });

  it('leaves out a stderr that was not captured', () => {
    expect(describeFailedEdit('x', 7, exit({ reason: 'timeout' }), 'c', 'kept')).toBe(
      'subprocess-transform: transform "x" (pid 7) did not answer within startTimeout after a change to c; kept',
    );
  });

  it('leaves out a pid it never had and an empty stderr', () => {
    const line = describeFailedEdit(
      'x',
      undefined,
      exit({ signal: 'SIGKILL', stderr: ' \n' }),
      'b',
      'none left',
    );
    expect(line).toBe(
      'subprocess-transform: transform "x" was killed with SIGKILL before its first answer after a change to b; none left',
    );
  });
});

type Proc = { name: string; answered: boolean };

describe('WatchTrial', () => {
  it('starts, waits for a new transform, takes one, and is promoted once its process answered', () => {
    const trial = new WatchTrial<Proc>();
    const p: Proc = { name: 'p', answered: false };
    expect(trial.kind).toBe('none');
    expect(trial.start(p, 'a.js')).toBeUndefined();
    expect(trial.kind).toBe('running');
    expect(trial.has(p)).toBe(true);
    expect(trial.onIdle(p, false)).toEqual({ verdict: 'wait' });
    expect(trial.waiting).toBe(true);
    expect(trial.take()).toBe(p);
    expect(trial.waiting).toBe(false);
    expect(trial.take()).toBeUndefined();
    p.answered = true;
    expect(trial.onIdle(p, true)).toEqual({ verdict: 'promote', path: 'a.js' });
    expect(trial.kind).toBe('none');
    expect(trial.has(p)).toBe(false);
  });

  it('hands back the process a later change replaces, and the one a reload ends', () => {
    const trial = new WatchTrial<Proc>();
    const [p, q] = [
      { name: 'p', answered: false },
      { name: 'q', answered: false },
    ];
    trial.start(p, 'a');
    expect(trial.start(q, 'b')).toBe(p);
    expect(trial.onIdle(p, true)).toEqual({ verdict: 'retire' });
    expect(trial.has(q)).toBe(true);
    expect(trial.end()).toBe(q);
    expect(trial.end()).toBeUndefined();
  });

  it('ends when its own process exits, not when another does', () => {
    const trial = new WatchTrial<Proc>();
    const [p, q] = [
      { name: 'p', answered: false },
      { name: 'q', answered: false },
    ];
    trial.start(p, 'a');
    expect(trial.onExit(q)).toBe(false);
    expect(trial.kind).toBe('running');
    expect(trial.onExit(p)).toBe(true);
    expect(trial.kind).toBe('none');
    expect(trial.onIdle(p, true)).toEqual({ verdict: 'retire' });
  });

  it('follows the reference model through any run of events', () => {
    type Model = { on: number | undefined; waiting: boolean; path: string };
    const procs = [0, 1, 2].map((i) => ({ name: `p${i}`, answered: false }));
    const event = fc.oneof(
      fc.record({ kind: fc.constant('start' as const), who: fc.nat(2), path: fc.constantFrom('a', 'b') }),
      fc.record({ kind: fc.constant('end' as const) }),
      fc.record({ kind: fc.constant('take' as const) }),
      fc.record({ kind: fc.constant('answer' as const), who: fc.nat(2) }),
      fc.record({ kind: fc.constant('idle' as const), who: fc.nat(2), work: fc.boolean() }),
      fc.record({ kind: fc.constant('exit' as const), who: fc.nat(2) }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), (events) => {
        for (const proc of procs) proc.answered = false;
        const trial = new WatchTrial<Proc>();
        const model: Model = { on: undefined, waiting: false, path: '' };
        for (const step of events) {
          switch (step.kind) {
            case 'start':
              expect(trial.start(procs[step.who] as Proc, step.path)).toBe(
                model.on === undefined ? undefined : procs[model.on],
              );
              Object.assign(model, { on: step.who, waiting: false, path: step.path });
              break;
            case 'end':
              expect(trial.end()).toBe(model.on === undefined ? undefined : procs[model.on]);
              Object.assign(model, { on: undefined, waiting: false });
              break;
            case 'take':
              expect(trial.take()).toBe(model.waiting ? procs[model.on as number] : undefined);
              model.waiting = false;
              break;
            case 'answer':
              (procs[step.who] as Proc).answered = true;
              break;
            case 'idle': {
              const proc = procs[step.who] as Proc;
              const result = trial.onIdle(proc, step.work);
              if (model.on !== step.who) expect(result).toEqual({ verdict: 'retire' });
              else if (proc.answered) {
                expect(result).toEqual({ verdict: 'promote', path: model.path });
                Object.assign(model, { on: undefined, waiting: false });
              } else if (step.work) {
                expect(result).toEqual({ verdict: 'run' });
                model.waiting = false;
              } else {
                expect(result).toEqual({ verdict: 'wait' });
                model.waiting = true;
              }
              break;
            }
            case 'exit':
              expect(trial.onExit(procs[step.who] as Proc)).toBe(model.on === step.who);
              if (model.on === step.who) Object.assign(model, { on: undefined, waiting: false });
              break;
          }
          expect(trial.kind).toBe(model.on === undefined ? 'none' : model.waiting ? 'waiting' : 'running');
          expect(trial.waiting).toBe(model.waiting);
          for (const [i, proc] of procs.entries()) expect(trial.has(proc)).toBe(model.on === i);
        }
      }),
    );
  });
});
