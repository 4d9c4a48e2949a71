import { spawn } from 'node:child_process';
import { execa, type ResultPromise } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { GroupWatchdog } from '../../src/shared/watchdog.ts';
import { fixture, isRunning, listProcesses, sleep, waitFor } from '../_utils.ts';

/** Everything must be gone within this; it aims at well under a second. */
const GONE_WITHIN_MS = 10_000;

function listRunningGroup(pgid: number): number[] {
  return listProcesses()
    .filter((entry) => entry.pgrp === pgid && entry.state !== 'Z')
    .map((entry) => entry.pid);
}

function findWatchdogs(parent: number): number[] {
  return listProcesses()
    .filter((entry) => entry.ppid === parent && entry.argv.includes('subprocess-transform-watchdog'))
    .map((entry) => entry.pid);
}

/** Processes a test leaves behind if it fails: killed after it. */
const leftovers = new Set<number>();

afterEach(() => {
  for (const pid of leftovers) {
    if (!isRunning(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  leftovers.clear();
});

function spawnGroup(): number {
  const leader = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
  leader.unref();
  leftovers.add(leader.pid as number);
  return leader.pid as number;
}

/** The first line a fixture prints, as JSON; rejects if it ends first. */
async function readFirstLine<T>(subprocess: ResultPromise): Promise<T> {
  let text = '';
  const line = new Promise<string>((resolve) => {
    subprocess.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
  });
  const ended = subprocess.then((result) => {
    throw new Error(`The fixture ended before printing: ${String(result.stderr)}`);
  });
  return JSON.parse(await Promise.race([line, ended])) as T;
}

describe('GroupWatchdog', () => {
  it('kills a watched group, grandchild included, when its parent is SIGKILLed', async () => {
    const holder = execa(process.execPath, [fixture('watchdog-holder.mjs'), 'watch'], { reject: false });
    const { pgid } = await readFirstLine<{ pgid: number }>(holder);
    const members = listRunningGroup(pgid);
    for (const member of members) leftovers.add(member);
    expect(members).toHaveLength(2);
    process.kill(holder.pid as number, 'SIGKILL');
    await holder;
    await waitFor(() => members.filter(isRunning).length === 0, GONE_WITHIN_MS);
    expect(members.filter(isRunning)).toEqual([]);
  });

  it('leaves a group alone once it was unwatched, and exits', async () => {
    const holder = execa(process.execPath, [fixture('watchdog-holder.mjs'), 'unwatch'], { reject: false });
    const { pgid } = await readFirstLine<{ pgid: number }>(holder);
    const members = listRunningGroup(pgid);
    for (const member of members) leftovers.add(member);
    const watchdogs = findWatchdogs(holder.pid as number);
    expect(members).toHaveLength(2);
    expect(watchdogs).toHaveLength(1);
    process.kill(holder.pid as number, 'SIGKILL');
    await holder;
    // Once the watchdog has handled the end of its input, it has done all it will ever do.
    expect(await waitFor(() => watchdogs.filter(isRunning).length === 0, GONE_WITHIN_MS)).toBe(true);
    expect(members.filter(isRunning)).toEqual(members);
  });

  it('does not keep its parent alive', async () => {
    const holder = await execa(process.execPath, [fixture('watchdog-holder.mjs'), 'idle'], {
      reject: false,
      timeout: GONE_WITHIN_MS,
    });
    expect(holder).toMatchObject({ exitCode: 0, timedOut: false });
  });

  it('survives SIGINT, SIGTERM and SIGHUP, and close() kills only the groups still watched', async () => {
    const watchdog = GroupWatchdog.start();
    const [watchdogPid] = findWatchdogs(process.pid);
    expect(watchdogPid).toBeTypeOf('number');
    leftovers.add(watchdogPid as number);
    const kept = spawnGroup();
    const killed = spawnGroup();
    watchdog.watch(kept);
    watchdog.watch(killed);
    watchdog.unwatch(kept);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
      process.kill(watchdogPid as number, signal);
    watchdog.close();
    // Only a watchdog that lived through the signals can kill the group.
    expect(await waitFor(() => !isRunning(killed), GONE_WITHIN_MS)).toBe(true);
    expect(await waitFor(() => !isRunning(watchdogPid as number), GONE_WITHIN_MS)).toBe(true);
    expect(isRunning(kept)).toBe(true);
  });

  it('goes quiet when the watchdog itself is gone', async () => {
    const watchdog = GroupWatchdog.start();
    const [watchdogPid] = findWatchdogs(process.pid);
    expect(watchdogPid).toBeTypeOf('number');
    process.kill(watchdogPid as number, 'SIGKILL');
    expect(await waitFor(() => !isRunning(watchdogPid as number), GONE_WITHIN_MS)).toBe(true);
    const group = spawnGroup();
    // Writes to a closed pipe fail with EPIPE: an unhandled one would fail this file.
    watchdog.watch(group);
    watchdog.unwatch(group);
    watchdog.close();
    watchdog.close();
    await sleep(100);
    expect(isRunning(group)).toBe(true);
  });

  it('refuses group ids that would signal its own group or every process', () => {
    const watchdog = GroupWatchdog.start();
    try {
      for (const pgid of [0, 1, -1, -42, 1.5, Number.NaN]) {
        expect(() => watchdog.watch(pgid)).toThrow(RangeError);
        expect(() => watchdog.unwatch(pgid)).toThrow(RangeError);
      }
    } finally {
      watchdog.close();
    }
  });
});

describe('no transform process outlives its parent, however it ends', () => {
  const SHELLS = 8;
  const RENDERERS = 3;
  const endings = [
    { how: 'SIGTERM', signal: 'SIGTERM', group: false },
    { how: 'SIGINT', signal: 'SIGINT', group: false },
    { how: 'SIGKILL', signal: 'SIGKILL', group: false },
    { how: 'Ctrl-C, SIGINT to its whole process group', signal: 'SIGINT', group: true },
  ] as const;
  for (const { how, signal, group } of endings) {
    it(`with grandchildren and transforms busy in a long render, ended by ${how}`, async () => {
      // Detached, the parent leads its own group, as a server started from a shell does.
      const parent = execa(process.execPath, [fixture('busy-parent.mjs')], {
        reject: false,
        detached: group,
      });
      const { pids, grandchildren } = await readFirstLine<{ pids: number[]; grandchildren: number[] }>(
        parent,
      );
      for (const pid of pids) leftovers.add(pid);
      // Each shell's group holds it and its grandchild; each renderer is alone in its own.
      expect(grandchildren).toHaveLength(SHELLS);
      expect(pids.length).toBeGreaterThanOrEqual(2 * SHELLS + RENDERERS);
      expect(pids).toEqual(expect.arrayContaining(grandchildren));
      expect(pids.filter(isRunning)).toEqual(pids);
      process.kill(group ? -(parent.pid as number) : (parent.pid as number), signal);
      expect(await parent).toMatchObject({ signal });
      await waitFor(() => pids.filter(isRunning).length === 0, GONE_WITHIN_MS);
      expect(pids.filter(isRunning)).toEqual([]);
    });
  }
});

describe('a body filter does not outlive its parent either', () => {
  it('is killed with its grandchild when the parent is SIGKILLed in the middle of a response', async () => {
    const parent = execa(process.execPath, [fixture('body-parent.mjs')], { reject: false });
    const group = await readFirstLine<{ pid: number; argv: string[] }[]>(parent);
    const pids = group.map((member) => member.pid);
    for (const pid of pids) leftovers.add(pid);
    // The filter (`cat`, exec'd by its shell) and the `sleep` it started, and nothing else.
    expect(group.map((member) => member.argv).sort()).toEqual([['cat'], ['sleep', '300.043']]);
    expect(pids.filter(isRunning)).toEqual(pids);
    parent.kill('SIGKILL');
    await parent;
    await waitFor(() => pids.filter(isRunning).length === 0, GONE_WITHIN_MS);
    expect(pids.filter(isRunning)).toEqual([]);
  });
});
