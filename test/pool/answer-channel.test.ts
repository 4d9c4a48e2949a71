// The answer's body toward its client and the slow-client bound: the pure rule, then the channel with a real
// body stream read by a test reader, its stall clock on a fake clock, and a model run of pushes and reads.
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AnswerChannel,
  type AnswerChannelOwner,
  chooseBodyForm,
  decideOutput,
} from '../../src/pool/answer-channel.ts';
import type { BodyFraming } from '../../src/wire/head.ts';
import type { ResponseHead } from '../../src/wire/parser.ts';

function head(status = 200, framing: BodyFraming = { kind: 'chunked' }): ResponseHead {
  return { status, statusText: 'OK', headers: new Headers(), context: new Map(), framing, close: false };
}

/** The exchange's side: what the channel asked, in order. */
function owner(clientBuffer: number, clientTimeout = Number.POSITIVE_INFINITY) {
  const calls: string[] = [];
  const seam: AnswerChannelOwner = {
    clientBuffer,
    clientTimeout,
    hold: () => calls.push('hold'),
    pauseOutput: () => calls.push('pauseOutput'),
    resume: () => calls.push('resume'),
    cancel: () => calls.push('cancel'),
    stall: () => calls.push('stall'),
  };
  return { seam, calls };
}

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

/** Let the stream run its pull after a read. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('decideOutput', () => {
  it('releases a process that has its whole answer out, full reader or not', () => {
    expect(decideOutput(false, true)).toBe('release');
    expect(decideOutput(true, true)).toBe('release');
  });

  it('holds the output while the reader has no room, and lets it flow otherwise', () => {
    expect(decideOutput(false, false)).toBe('hold');
    expect(decideOutput(true, false)).toBe('flow');
  });
});

describe('chooseBodyForm', () => {
  it('hands out no body, the bytes of a whole answer, or a stream', () => {
    expect(chooseBodyForm(false, true)).toBe('none');
    expect(chooseBodyForm(false, false)).toBe('none');
    expect(chooseBodyForm(true, true)).toBe('bytes');
    expect(chooseBodyForm(true, false)).toBe('stream');
  });
});

describe('AnswerChannel', () => {
  afterEach(() => vi.useRealTimers());

  it('hands out an answer that came whole as its bytes, released at once', async () => {
    const { seam, calls } = owner(4);
    const channel = new AnswerChannel(head(), seam);
    expect(channel.push(bytes(1, 2, 3))).toBe(true);
    expect(channel.push(bytes(4, 5, 6))).toBe(true);
    const response = channel.open(true) as Response;
    expect(channel.kind).toBe('released');
    expect([...new Uint8Array(await response.arrayBuffer())]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(calls).toEqual([]);
    expect(channel.open(true)).toBeUndefined();
  });

  it('hands out a null body for a status or framing without one, and drops any byte after it', () => {
    const channel = new AnswerChannel(head(204, { kind: 'none' }), owner(4).seam);
    expect((channel.open(false) as Response).body).toBeNull();
    expect(channel.kind).toBe('flowing');
    expect(channel.push(bytes(1))).toBe(true);
    channel.close();
    expect(channel.kind).toBe('ended');
  });

  it('keeps gathering when the whole answer came in the read that brought its head', async () => {
    const { seam, calls } = owner(1);
    const channel = new AnswerChannel(head(), seam);
    channel.push(bytes(7, 8));
    channel.release();
    expect(channel.kind).toBe('gathering');
    const response = channel.open(true) as Response;
    channel.close();
    expect([...new Uint8Array(await response.arrayBuffer())]).toEqual([7, 8]);
    expect(calls).toEqual([]);
  });

  it('fails cleanly before its head was handed out', () => {
    const channel = new AnswerChannel(head(), owner(4).seam);
    channel.fail(new Error('early'));
    expect(channel.kind).toBe('ended');
    expect(channel.open(false)).toBeUndefined();
  });

  it('releases a flowing answer, and stays released as the client reads the rest', async () => {
    const { seam } = owner(4);
    const channel = new AnswerChannel(head(), seam);
    const reader = (channel.open(false) as Response).body?.getReader() as ReadableStreamDefaultReader;
    expect(channel.push(bytes(1))).toBe(true);
    channel.release();
    expect(channel.kind).toBe('released');
    expect(channel.push(bytes(2))).toBe(true);
    expect([...(await reader.read()).value]).toEqual([1]);
    await settle();
    expect(channel.kind).toBe('released');
    channel.close();
    expect([...(await reader.read()).value]).toEqual([2]);
    expect((await reader.read()).done).toBe(true);
  });

  it('pauses the output at once when the bytes with the head fill the buffer, until the client reads', async () => {
    const { seam, calls } = owner(4);
    const channel = new AnswerChannel(head(), seam);
    channel.push(bytes(1, 2, 3, 4, 5));
    const reader = (channel.open(false) as Response).body?.getReader();
    expect(channel.kind).toBe('held');
    expect(calls).toEqual(['hold', 'pauseOutput']);
    expect([...((await reader?.read())?.value ?? [])]).toEqual([1, 2, 3, 4, 5]);
    await settle();
    expect(channel.kind).toBe('flowing');
    expect(calls).toEqual(['hold', 'pauseOutput', 'resume']);
  });

  it('asks for a pause once the client buffer is full, and holds only once', async () => {
    const { seam, calls } = owner(4);
    const channel = new AnswerChannel(head(), seam);
    const body = (channel.open(false) as Response).body;
    await settle();
    calls.length = 0;
    expect(channel.push(bytes(1, 2))).toBe(true);
    expect(channel.push(bytes(3, 4))).toBe(false);
    expect(channel.push(bytes(5))).toBe(false);
    expect(channel.kind).toBe('held');
    // The stream pulls (resume) while it has room; one hold for the pause.
    expect(calls.filter((call) => call !== 'resume')).toEqual(['hold']);
    expect(body).not.toBeNull();
  });

  it('ends a response whose client reads nothing for clientTimeout while the output waits on it', () => {
    vi.useFakeTimers();
    const { seam, calls } = owner(1, 5000);
    const channel = new AnswerChannel(head(), seam);
    channel.open(false);
    calls.length = 0;
    channel.push(bytes(1, 2));
    vi.advanceTimersByTime(4999);
    expect(calls).toEqual(['hold']);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual(['hold', 'stall']);
  });

  it('re-arms the stall clock on each pause: a client that reads slowly but steadily never trips it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { seam, calls } = owner(1, 5000);
    const channel = new AnswerChannel(head(), seam);
    const reader = (channel.open(false) as Response).body?.getReader();
    for (let round = 0; round < 3; round++) {
      channel.push(bytes(round));
      vi.advanceTimersByTime(4000);
      await reader?.read();
      await settle();
      expect(channel.kind).toBe('flowing');
    }
    vi.advanceTimersByTime(4000);
    channel.push(bytes(9));
    vi.advanceTimersByTime(4999);
    expect(calls).not.toContain('stall');
    vi.advanceTimersByTime(1);
    expect(calls.filter((call) => call === 'stall')).toEqual(['stall']);
  });

  it('stops the stall clock once the process has its whole answer out', () => {
    vi.useFakeTimers();
    const { seam, calls } = owner(1, 5000);
    const channel = new AnswerChannel(head(), seam);
    channel.open(false);
    channel.push(bytes(1, 2));
    channel.release();
    expect(channel.kind).toBe('released');
    // No clock is left running for a client the process no longer waits on.
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(50_000);
    expect(calls).not.toContain('stall');
  });

  it('stops the stall clock when the exchange moves on', () => {
    vi.useFakeTimers();
    const { seam, calls } = owner(1, 5000);
    const channel = new AnswerChannel(head(), seam);
    channel.open(false);
    channel.push(bytes(1, 2));
    channel.stop();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(50_000);
    expect(calls).not.toContain('stall');
    expect(channel.push(bytes(3))).toBe(true);
  });

  it('errors the body a reader holds on failure, never a clean end', async () => {
    const channel = new AnswerChannel(head(), owner(64).seam);
    const response = channel.open(false) as Response;
    channel.push(bytes(1));
    channel.fail(new Error('broken'));
    await expect(response.arrayBuffer()).rejects.toThrow('broken');
    expect(channel.kind).toBe('ended');
  });

  it('ends the body cleanly after the bytes not read yet', async () => {
    const channel = new AnswerChannel(head(), owner(64).seam);
    const response = channel.open(false) as Response;
    channel.push(bytes(1, 2));
    channel.close();
    expect([...new Uint8Array(await response.arrayBuffer())]).toEqual([1, 2]);
  });

  it('tells the exchange when the client cancels the body', async () => {
    const { seam, calls } = owner(64);
    const channel = new AnswerChannel(head(), seam);
    await (channel.open(false) as Response).body?.cancel();
    expect(calls).toContain('cancel');
  });

  it('holds exactly while the client buffer is full, and delivers every byte in order (model)', async () => {
    const command = fc.oneof(
      fc.integer({ min: 1, max: 6 }).map((size) => ({ kind: 'push' as const, size })),
      fc.constant({ kind: 'read' as const }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.array(command, { maxLength: 30 }),
        async (bound, run) => {
          const { seam, calls } = owner(bound);
          const channel = new AnswerChannel(head(), seam);
          const reader = (channel.open(false) as Response).body?.getReader() as ReadableStreamDefaultReader;
          await settle();
          let next = 0;
          let queued = 0;
          const sent: number[] = [];
          const received: number[] = [];
          for (const step of run) {
            if (step.kind === 'push') {
              const chunk = Uint8Array.from({ length: step.size }, () => next++ % 256);
              sent.push(...chunk);
              queued += step.size;
              expect(channel.push(chunk)).toBe(queued < bound);
            } else if (queued > 0) {
              const { value } = await reader.read();
              received.push(...value);
              queued -= value.byteLength;
              await settle();
            }
            expect(channel.kind).toBe(queued >= bound ? 'held' : 'flowing');
          }
          channel.close();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            received.push(...value);
          }
          expect(received).toEqual(sent);
          // Each pause is one hold, and each hold came from a full buffer.
          expect(calls.filter((call) => call === 'hold').length).toBeLessThanOrEqual(
            run.filter((step) => step.kind === 'push').length,
          );
        },
      ),
      { numRuns: 30 },
    );
  });
});
