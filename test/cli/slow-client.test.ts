// The slow-client bound from the command line: --client-buffer and --client-timeout, and the access line of a
// response ended for a client that reads nothing.
import { describe, expect, it } from 'vitest';
import { HELP, parseCliArgs } from '../../src/cli/args.ts';
import { kill, startProxy, startPython } from '../_cli.ts';
import { fixture, requestWithoutReading, waitFor, within } from '../_utils.ts';

const MiB = 1024 * 1024;

describe('the CLI flags', () => {
  const proxy = (...flags: string[]) =>
    parseCliArgs(['proxy', '--upstream', 'http://127.0.0.1:1', ...flags, '--', 'cat']);

  it('passes --client-buffer and --client-timeout on, and leaves the defaults to the library', () => {
    expect(proxy('--client-buffer', '65536', '--client-timeout=250')).toMatchObject({
      clientBuffer: 65_536,
      clientTimeout: 250,
    });
    expect(proxy()).toMatchObject({ clientBuffer: undefined, clientTimeout: undefined });
    expect(HELP).toContain('--client-buffer BYTES');
    expect(HELP).toContain('--client-timeout MS');
  });

  it.each([
    [['--client-buffer', '1mb'], 'Expected --client-buffer to be an integer of at least 0, got "1mb"'],
    [['--client-timeout', '-1'], 'Expected --client-timeout to be an integer from 0 to 2147483647, got "-1"'],
  ])('refuses %o', (flags, message) => {
    expect(() => proxy(...flags)).toThrow(message);
  });
});

describe('the CLI', () => {
  it('ends a response its client does not read past --client-timeout, and its access line says aborted', async () => {
    const python = await startPython();
    const proxy = await startProxy([
      '--upstream',
      python.url,
      '--log',
      '--processes',
      '1',
      '--client-buffer',
      '65536',
      '--client-timeout',
      '300',
      '--',
      process.execPath,
      fixture('large-answer.mjs'),
      String(32 * MiB),
    ]);
    try {
      const stuck = requestWithoutReading(proxy.url, '/json');
      const line = /^GET \/json 200 (\d+) \d+ms (\w+)$/m;
      expect(await waitFor(() => line.test(proxy.stdout()), 20_000)).toBe(true);
      const [, bytes, outcome] = line.exec(proxy.stdout()) as RegExpExecArray;
      expect(outcome).toBe('aborted');
      expect(Number(bytes)).toBeLessThan(32 * MiB);
      expect(await within(stuck.readRest(), 20_000)).toBeLessThan(32 * MiB);
    } finally {
      await kill(proxy);
      await kill(python);
    }
  });
});
