// watchBody, the one body wrapper of the CLI: serveFetch's connection guard ('hold') and the access log's byte
// count ('error') are both made of it.
import { describe, expect, it } from 'vitest';
import { watchBody } from '../../src/cli/watch-body.ts';
import { within } from '../_utils.ts';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A source the test drives by hand. */
function createSource(): {
  body: ReadableStream<Uint8Array>;
  source: ReadableStreamDefaultController<Uint8Array>;
} {
  let source: ReadableStreamDefaultController<Uint8Array> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      source = controller;
    },
  });
  return { body, source: source as ReadableStreamDefaultController<Uint8Array> };
}

describe('watchBody', () => {
  it('passes every chunk on whole and in order, telling each size, and closes with the source', async () => {
    const { body, source } = createSource();
    const sizes: number[] = [];
    const failures: unknown[] = [];
    const copy = watchBody(body, {
      onChunk: (n) => sizes.push(n),
      onFailure: (error) => failures.push(error),
      afterFailure: 'error',
    });
    source.enqueue(bytes('hello '));
    source.enqueue(bytes('wörld'));
    source.close();
    expect(await new Response(copy).text()).toBe('hello wörld');
    expect(sizes).toEqual([6, 6]);
    expect(failures).toEqual([]);
  });

  it("tells a failure during a read once, and with 'error' the copy fails with it", async () => {
    const { body, source } = createSource();
    const failures: unknown[] = [];
    const copy = watchBody(body, { onFailure: (error) => failures.push(error), afterFailure: 'error' });
    const reader = copy.getReader();
    const read = reader.read();
    const boom = new Error('boom');
    source.error(boom);
    await expect(read).rejects.toBe(boom);
    expect(failures).toEqual([boom]);
  });

  it('tells a failure with no read pending, at once', async () => {
    const { body, source } = createSource();
    const failures: unknown[] = [];
    const copy = watchBody(body, { onFailure: (error) => failures.push(error), afterFailure: 'error' });
    const boom = new Error('boom');
    source.error(boom);
    await expect(within(copy.getReader().closed, 10_000)).rejects.toBe(boom);
    expect(failures).toEqual([boom]);
  });

  it("with 'hold', no read of the copy settles after a failure", async () => {
    const { body, source } = createSource();
    const failures: unknown[] = [];
    const copy = watchBody(body, { onFailure: (error) => failures.push(error), afterFailure: 'hold' });
    const reader = copy.getReader();
    source.enqueue(bytes('a'));
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('a');
    const read = reader.read();
    source.error(new Error('boom'));
    await expect.poll(() => failures.length).toBe(1);
    // Held: were it to settle, it would within microtasks of the failure already told.
    expect(await within(read, 200)).toBe('still waiting');
  });

  it('cancels the source when the copy is cancelled, and a cancel is no failure', async () => {
    let reason: unknown;
    const body = new ReadableStream<Uint8Array>({
      cancel(why) {
        reason = why;
      },
    });
    const failures: unknown[] = [];
    const copy = watchBody(body, { onFailure: (error) => failures.push(error), afterFailure: 'error' });
    await copy.cancel('client left');
    expect(reason).toBe('client left');
    expect(failures).toEqual([]);
  });
});
