import { UNREADABLE_BODY_REASON } from '../child/reasons.ts';

/**
 * How a filter failed, as the filter child tells the pool: the value of its `Transform-Error` answer. The pool
 * turns it back into the error and the event a filter run in the server would have made.
 * `spawn`: it could not be started (`cause` says why); `exit`: it exited non-zero or was killed before its
 * output began; `timeout`: its stdout was silent for `timeout` ms.
 */
export interface FilterFailure {
  kind: 'spawn' | 'exit' | 'timeout';
  pid?: number | undefined;
  code?: number | undefined;
  signal?: string | undefined;
  cause?: string | undefined;
}

const PREFIX = 'filter ';
const MAX_CAUSE_CHARS = 160;

/** One line of visible ASCII for a field value: a header cannot hold the rest. */
function toFieldText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_CAUSE_CHARS);
}

/** The `Transform-Error` value for a failure: `filter exit pid=12 code=3`, `filter spawn; spawn x ENOENT`. */
export function formatFailure(failure: FilterFailure): string {
  let text = `${PREFIX}${failure.kind}`;
  if (failure.pid !== undefined) text += ` pid=${failure.pid}`;
  if (failure.code !== undefined) text += ` code=${failure.code}`;
  if (failure.signal !== undefined) text += ` signal=${failure.signal}`;
  if (failure.cause !== undefined) text += `; ${toFieldText(failure.cause)}`;
  return text;
}

/**
 * The failure a `Transform-Error` value stands for, or undefined for any other reason. A failure that came
 * after the answer was handed over but before a byte of it was written is told by the child as its answer's
 * unreadable body, with that prefix.
 */
export function parseFailure(reason: string): FilterFailure | undefined {
  const told = reason.startsWith(UNREADABLE_BODY_REASON)
    ? reason.slice(UNREADABLE_BODY_REASON.length)
    : reason;
  const match = /^filter (spawn|exit|timeout)((?: \w+=\S+)*)(?:; (.*))?$/.exec(told);
  if (match === null) return undefined;
  const failure: FilterFailure = { kind: match[1] as FilterFailure['kind'] };
  for (const pair of (match[2] ?? '').trim().split(' ')) {
    const [name, value = ''] = pair.split('=');
    if (name === 'pid' || name === 'code') failure[name] = Number(value);
    else if (name === 'signal') failure.signal = value;
  }
  if (match[3] !== undefined) failure.cause = match[3];
  return failure;
}
