import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { createTransformPool, TransformError } from '../../src/index.ts';
import { countOpenFds, exists, fixture, listChildren, track, transformChildren, waitFor } from '../_utils.ts';

describe('no process outlives the parent', () => {
  for (const mode of ['wait', 'exit'] as const) {
    const how =
      mode === 'wait'
        ? 'is killed with SIGKILL (its children see stdin close)'
        : 'exits without closing its pools';
    it(`when the parent ${how}`, async () => {
      const parent = execa(process.execPath, [fixture('parent.mjs'), mode], {
        reject: false,
        buffer: { stdout: true },
      });
      const pids = await new Promise<number[]>((resolve) => {
        parent.stdout?.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as number[]));
      });
      expect(pids).toHaveLength(2);
      expect(pids.every(exists)).toBe(true);
      if (mode === 'wait') parent.kill('SIGKILL');
      await parent;
      // Gone within a second on a quiet machine; no process may outlive its parent by 10 s.
      expect(await waitFor(() => pids.every((pid) => !exists(pid)), 10_000)).toBe(true);
    });
  }
});

describe('a process whose leader exits', () => {
  it('takes what it started with it at once, while the pool runs on', async () => {
    const lines: string[] = [];
    // The background sleep holds the pipes: only a kill of the group closes them.
    const pool = track(
      createTransformPool({
        command: ['sh', '-c', 'sleep 600 & echo "$!" >&2; exec cat'],
        processes: 1,
        stderr: (line) => lines.push(line),
        onEvent: () => {},
      }),
    );
    expect(await (await pool.transform(new Response('warm'))).text()).toBe('warm');
    expect(await waitFor(() => lines.length === 1, 10_000)).toBe(true);
    const sleeper = Number(lines[0]);
    const [leader] = pool.stats().processes;
    expect(exists(sleeper)).toBe(true);
    process.kill(leader?.pid as number, 'SIGKILL');
    // Gone within a second on a quiet machine; 10 s is the bound for any process the pool started.
    expect(await waitFor(() => !exists(sleeper), 10_000)).toBe(true);
    expect(await waitFor(() => pool.stats().exited === 1, 10_000)).toBe(true);
    expect(await (await pool.transform(new Response('after'))).text()).toBe('after');
  });
});

describe('leaks', () => {
  // About 25 s on a quiet machine, a process start per cycle: its own timeout is ten times that.
  it('500 crash-and-replace cycles leave no file descriptor and no child behind', async () => {
    const pool = track(createTransformPool({ command: 'cat', processes: 1 }));
    await (await pool.transform(new Response('warm'))).text();
    const baseline = countOpenFds();
    for (let cycle = 0; cycle < 500; cycle++) {
      // Each process answers once, then is SIGKILLed in the middle of its next transform.
      expect(await (await pool.transform(new Response(`ok ${cycle}`))).text()).toBe(`ok ${cycle}`);
      // The one live process (the one killed before it may not be reaped yet).
      const live = () => transformChildren().filter((candidate) => candidate.state !== 'Z');
      expect(await waitFor(() => live().length === 1)).toBe(true);
      const [child] = live();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('partial'));
        },
      });
      // cat echoes the head at once; the process then dies in the middle of the body.
      const response = await pool.transform(new Response(body));
      process.kill(child?.pid as number, 'SIGKILL');
      const outcome = await response.text().catch((error: unknown) => error);
      expect(outcome).toBeInstanceOf(TransformError);
      expect((outcome as TransformError).code).toBe('ERR_TRANSFORM_EXIT');
    }
    expect(await (await pool.transform(new Response('after'))).text()).toBe('after');
    expect(pool.stats()).toMatchObject({ exited: 500, failed: 500 });
    expect(countOpenFds()).toBeLessThanOrEqual(baseline + 4);
    await pool.close();
    expect(await waitFor(() => listChildren().length === 0)).toBe(true);
  }, 300_000);
});
