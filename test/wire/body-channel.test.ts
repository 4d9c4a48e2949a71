// BodyChannel makes its stream on first use: what was pushed, closed or failed before then must read the same.
import { describe, expect, it } from 'vitest';
import { BodyChannel } from '../../src/wire/index.ts';

const KiB = 1024;

function createChannel(): { channel: BodyChannel; resumed: number[]; cancelled: unknown[] } {
  const resumed: number[] = [];
  const cancelled: unknown[] = [];
  const channel = new BodyChannel({
    resume: () => resumed.push(1),
    cancel: (reason) => cancelled.push(reason),
  });
  return { channel, resumed, cancelled };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<number[]> {
  const sizes: number[] = [];
  for await (const chunk of stream) sizes.push(chunk.byteLength);
  return sizes;
}

describe('BodyChannel', () => {
  it('hands every chunk pushed before its stream was made to that stream, then the rest', async () => {
    const { channel } = createChannel();
    expect(channel.push(new Uint8Array(10))).toBe(true);
    expect(channel.push(new Uint8Array(20))).toBe(true);
    const reading = readAll(channel.stream);
    channel.push(new Uint8Array(30));
    channel.close();
    expect(await reading).toEqual([10, 20, 30]);
  });

  it('keeps a whole body as chunks until its stream is made, bounded as the queue would be', () => {
    const { channel } = createChannel();
    expect(channel.push(new Uint8Array(40 * KiB))).toBe(true);
    expect(channel.chunks).toBeUndefined();
    // Past the queue's size the source must pause, stream or not.
    expect(channel.push(new Uint8Array(40 * KiB))).toBe(false);
    expect(channel.wantsMore).toBe(false);
    channel.close();
    expect(channel.chunks?.map((chunk) => chunk.byteLength)).toEqual([40 * KiB, 40 * KiB]);
    // Once the stream has them, a reader may have taken them: no longer the whole body to send as it came.
    expect(channel.stream.locked).toBe(false);
    expect(channel.chunks).toBeUndefined();
  });

  it('asks its source for more once a late reader makes room', async () => {
    const { channel, resumed } = createChannel();
    channel.push(new Uint8Array(64 * KiB));
    expect(channel.wantsMore).toBe(false);
    const reader = channel.stream.getReader();
    expect((await reader.read()).value?.byteLength).toBe(64 * KiB);
    await new Promise((resolve) => setImmediate(resolve));
    expect(resumed.length).toBeGreaterThan(0);
    expect(channel.wantsMore).toBe(true);
  });

  it('fails a stream made after the body failed or was discarded', async () => {
    const failed = createChannel().channel;
    failed.push(new Uint8Array(5));
    failed.error(new Error('cut short'));
    await expect(readAll(failed.stream)).rejects.toThrow('cut short');
    const discarded = createChannel().channel;
    discarded.discard(new Error('drained'));
    expect(discarded.push(new Uint8Array(5))).toBe(true);
    expect(discarded.chunks).toBeUndefined();
    await expect(readAll(discarded.stream)).rejects.toThrow('drained');
  });

  it('tells its source when the reader cancels, once', async () => {
    const { channel, cancelled } = createChannel();
    channel.push(new Uint8Array(5));
    await channel.stream.cancel('enough');
    await channel.stream.cancel('again');
    expect(cancelled).toEqual(['enough']);
    expect(channel.open).toBe(false);
  });
});
