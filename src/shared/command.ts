import { describeValue } from '../util/describe-value.ts';

/**
 * Split a command like a POSIX shell splits words, without running one: whitespace separates words,
 * single quotes keep everything, double quotes keep all but `\"` and `\\`, a backslash escapes the next
 * character. Arrays are taken as they are.
 */
export function parseCommand(command: unknown): [file: string, ...args: string[]] {
  const argv = typeof command === 'string' ? splitWords(command) : command;
  if (!Array.isArray(argv) || !argv.every((word) => typeof word === 'string')) {
    throw new TypeError(
      `Expected \`command\` to be a string or an array of strings, got ${describeValue(command)}`,
    );
  }
  if (argv.length === 0 || argv[0] === '')
    throw new RangeError(`Expected \`command\` to name a program, got ${describeValue(command)}`);
  return argv as [string, ...string[]];
}

function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (char === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) throw new SyntaxError(`Unterminated single quote in \`command\`: ${text}`);
      word += text.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (char === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) i++;
        word += text[i];
      }
      if (i >= text.length) throw new SyntaxError(`Unterminated double quote in \`command\`: ${text}`);
      inWord = true;
    } else if (char === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The command as one string, for messages. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : JSON.stringify(word))).join(' ');
}
