/**
 * The field a transform process puts on its answers to announce that it frames every answer by construction
 * and hands messages to its own code one at a time, so messages it read ahead never reached that code; its
 * value is the most messages it takes on board. `serveTransform` sends it. An echo of the input (`cat`)
 * cannot forge it: a handler's own `Transform-*` fields never reach the input. The pool strips it.
 */
export const PIPELINE_FIELD = 'Transform-Pipeline';

/** Most messages a process may announce: the bound of the `pipeline` option. */
export const MAX_ANNOUNCED_DEPTH = 1024;

/** The depth an announcement states: an integer from 1 to 1024, else undefined (no announcement). */
export function parseAnnouncedDepth(value: string | null): number | undefined {
  if (value === null || !/^[1-9][0-9]{0,3}$/.test(value)) return undefined;
  const depth = Number(value);
  return depth <= MAX_ANNOUNCED_DEPTH ? depth : undefined;
}
