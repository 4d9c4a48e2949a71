/**
 * The variable a pool sets in every transform process it starts (value `1`): the process's stdout is the
 * protocol from its first byte, so `subprocess-transform/child` routes the console to stderr as soon as it
 * is imported. Free of side effects: the pool imports it too.
 */
export const CHILD_MARKER = 'SUBPROCESS_TRANSFORM_CHILD';

/** Whether a pool started this process; false where the environment cannot be read (Deno without --allow-env). */
export function isStartedByPool(): boolean {
  try {
    return process.env[CHILD_MARKER] === '1';
  } catch {
    return false;
  }
}

/**
 * The variable with the head limits a pool puts on answers, `<maxHeaderBytes>,<maxHeaderCount>`: a
 * serveTransform child answers a Response over them with `Transform-Error`, so only that message fails, where
 * the pool would refuse the head and stop the process with the messages behind it read already.
 */
export const HEAD_LIMITS_VARIABLE = 'SUBPROCESS_TRANSFORM_HEAD_LIMITS';

/** The head limits of an answer, as the pool that started this process told them. */
export interface HeadLimits {
  maxHeaderBytes: number;
  maxHeaderCount: number;
}

/** The value of {@link HEAD_LIMITS_VARIABLE} for `limits`. */
export function formatHeadLimits(limits: HeadLimits): string {
  return `${limits.maxHeaderBytes},${limits.maxHeaderCount}`;
}

/** The head limits the pool that started this process told, if it did (and the environment can be read). */
export function readHeadLimits(): HeadLimits | undefined {
  let value: string | undefined;
  try {
    value = process.env[HEAD_LIMITS_VARIABLE];
  } catch {
    return undefined;
  }
  const match = /^(\d{1,15}),(\d{1,15})$/.exec(value ?? '');
  if (match === null) return undefined;
  return { maxHeaderBytes: Number(match[1]), maxHeaderCount: Number(match[2]) };
}
