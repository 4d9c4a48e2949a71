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
