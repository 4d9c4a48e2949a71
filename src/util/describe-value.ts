/** Longest text of a value shown in a message: enough to recognise it, never a wall of text. */
const MAX_SHOWN = 40;

function shorten(text: string): string {
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}...` : text;
}

/**
 * How a wrong value is named in a validation message: the value itself where it is short and plain
 * (`"lines"`, `5`, `NaN`, `null`, `[1,2]`), otherwise what it is (`a function`, `a Map`).
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(shorten(value));
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    case 'function':
      return 'a function';
  }
  if (value === null) return 'null';
  if (value instanceof RegExp) return shorten(String(value));
  const prototype = Object.getPrototypeOf(value);
  if (Array.isArray(value) || prototype === Object.prototype || prototype === null) {
    try {
      return shorten(JSON.stringify(value));
    } catch {
      // Circular, or holding a bigint: say what it is instead.
    }
    return Array.isArray(value) ? 'an array' : 'an object';
  }
  const name: unknown = prototype?.constructor?.name;
  return typeof name === 'string' && name !== '' ? `an instance of ${name}` : 'an object';
}

/** The first line of an error, with its `code` (ENOENT, EACCES) first. */
export function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const line = cause.message.split('\n')[0] ?? '';
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' && !line.includes(code) ? `${code}: ${line}` : line;
}
