// The caller's side of one transform: told exactly once, either way, and its client's abort signal heard only
// until then (Deno fires a request's signal after a completed response: that must not count).
import { describe, expect, it } from 'vitest';
import { Caller } from '../../src/pool/caller.ts';

function make(signal?: AbortSignal) {
  const delivered: number[] = [];
  let aborts = 0;
  const caller = new Caller(signal, () => aborts++, { delivered: (ms) => delivered.push(ms) });
  return { caller, delivered, aborts: () => aborts };
}

describe('Caller', () => {
  it('hands out the Response once, counts its latency once, and stops hearing the signal', async () => {
    const controller = new AbortController();
    const { caller, delivered, aborts } = make(controller.signal);
    const response = new Response('a');
    expect(caller.settled).toBe(false);
    caller.answer(response);
    caller.answer(new Response('b'));
    expect(caller.settled).toBe(true);
    expect(await caller.result).toBe(response);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toBeGreaterThanOrEqual(0);
    controller.abort();
    expect(aborts()).toBe(0);
  });

  it('rejects once, and says a failure after the Response belongs to its body', async () => {
    const controller = new AbortController();
    const { caller, delivered, aborts } = make(controller.signal);
    const error = new Error('failed');
    expect(caller.reject(error)).toBe(true);
    expect(caller.reject(new Error('again'))).toBe(false);
    caller.answer(new Response('late'));
    await expect(caller.result).rejects.toBe(error);
    expect(delivered).toEqual([]);
    controller.abort();
    expect(aborts()).toBe(0);
    const answered = make();
    answered.caller.answer(new Response('x'));
    expect(answered.caller.reject(error)).toBe(false);
  });

  it('hears its client leave while it waits, once', () => {
    const controller = new AbortController();
    const { aborts } = make(controller.signal);
    controller.abort();
    controller.abort();
    expect(aborts()).toBe(1);
  });
});
