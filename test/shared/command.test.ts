import { describe, expect, it } from 'vitest';
import { formatCommand, parseCommand } from '../../src/shared/command.ts';

describe('parseCommand', () => {
  it('splits a string like a POSIX shell', () => {
    expect(parseCommand('node render.js --mode fast')).toEqual(['node', 'render.js', '--mode', 'fast']);
    expect(parseCommand(`sh -c 'echo "$0"; cat' "it's"`)).toEqual(['sh', '-c', 'echo "$0"; cat', "it's"]);
    expect(parseCommand('a\\ b "c \\"d\\" \\\\" e""f')).toEqual(['a b', 'c "d" \\', 'ef']);
    expect(parseCommand("  x  ''  ")).toEqual(['x', '']);
  });

  it('takes an argv array as it is', () => {
    expect(parseCommand(['node', 'a b.js'])).toEqual(['node', 'a b.js']);
  });

  it('rejects what names no program', () => {
    expect(() => parseCommand('')).toThrow(RangeError);
    expect(() => parseCommand([])).toThrow(RangeError);
    expect(() => parseCommand(42)).toThrow(TypeError);
    expect(() => parseCommand("echo 'open")).toThrow(SyntaxError);
  });

  it('formats a command for messages', () => {
    expect(formatCommand(['node', 'render.js', 'a b'])).toBe('node render.js "a b"');
  });
});
