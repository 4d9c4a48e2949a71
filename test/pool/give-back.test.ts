// A transform given back to the queue (a slow reader ahead of it, or a process that never read it) is not an
// attempt: it keeps its one retry. Driven through the exchange's own transitions, with a recording pool and
// process in place of the real ones, so no timing decides the outcome.
import { describe, expect, it } from 'vitest';
import { Exchange, type ExchangeHost, type ExchangeOwner } from '../../src/pool/exchange.ts';
import { TransformError } from '../../src/shared/errors.ts';

/** A pool that records what its exchanges tell it. */
function createOwner(): ExchangeOwner & { requeued: number; failures: unknown[] } {
  const owner = {
    timeout: 60_000,
    startTimeout: 60_000,
    clientBuffer: 64 * 1024,
    clientTimeout: 60_000,
    preserveValidators: false,
    requeued: 0,
    failures: [] as unknown[],
    delivered: () => {},
    succeeded: () => {},
    failed: (error: unknown) => owner.failures.push(error),
    dequeue: () => {},
    requeue: () => {
      owner.requeued++;
    },
  };
  return owner;
}

function createHost(pid: number): ExchangeHost {
  return {
    pid,
    startedAt: Date.now(),
    answered: true,
    takes: () => true,
    pauseOutput: () => {},
    resumeOutput: () => {},
    abandon: () => {},
    createError: (code, message) => new TransformError(code, message),
  };
}

function createExchange(owner: ExchangeOwner): Exchange {
  const init = { id: 'a', response: new Response('body'), signal: undefined, fields: [] };
  return new Exchange(init, owner);
}

const stopped = new TransformError('ERR_TRANSFORM_EXIT', 'stopped for an earlier message');

describe('a transform given back to the queue', () => {
  it('is retried once after being given back for a slow reader ahead of it', async () => {
    const owner = createOwner();
    const exchange = createExchange(owner);
    exchange.begin(createHost(1));
    exchange.giveBack();
    expect([owner.requeued, exchange.retried]).toEqual([1, false]);
    exchange.begin(createHost(2));
    exchange.onFailed(stopped, true);
    expect([owner.requeued, exchange.retried, owner.failures]).toEqual([2, true, []]);
    exchange.begin(createHost(3));
    exchange.onFailed(stopped, true);
    expect(owner.failures).toEqual([stopped]);
    await expect(exchange.result).rejects.toBe(stopped);
  });

  it('is retried once after a process that never read it', async () => {
    const owner = createOwner();
    const exchange = createExchange(owner);
    exchange.begin(createHost(1));
    exchange.onNotRead(stopped);
    exchange.begin(createHost(2));
    exchange.onFailed(stopped, true);
    expect([owner.requeued, owner.failures]).toEqual([2, []]);
    exchange.begin(createHost(3));
    exchange.onFailed(stopped, true);
    await expect(exchange.result).rejects.toBe(stopped);
  });
});
