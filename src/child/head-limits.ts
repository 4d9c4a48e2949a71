// The head limits of the pool that started this process. An answer's head over them would be refused by the
// pool, which stops the process: the messages behind it, handed to the transform already, would run again.
// Checked on the head as written (a string or the encoder's first view), so an answer costs one scan of it.
import { readHeadLimits } from '../wire/child-marker.ts';

const LIMITS = readHeadLimits();
const LF = 0x0a;

/** Lines in a head, each ended by LF: the status line, the fields and the empty line. */
function countLines(head: string | Uint8Array): number {
  let lines = 0;
  if (typeof head === 'string') {
    for (let at = head.indexOf('\n'); at !== -1; at = head.indexOf('\n', at + 1)) lines++;
  } else {
    for (let at = head.indexOf(LF); at !== -1; at = head.indexOf(LF, at + 1)) lines++;
  }
  return lines;
}

/**
 * Why `head` (a whole head, Latin-1 text or bytes) is over the limits the pool told, or undefined when it is
 * within them or no pool told any.
 */
export function findHeadOverLimits(head: string | Uint8Array): string | undefined {
  if (LIMITS === undefined) return undefined;
  const bytes = typeof head === 'string' ? head.length : head.byteLength;
  const fields = countLines(head) - 2;
  const { maxHeaderBytes, maxHeaderCount } = LIMITS;
  if (bytes <= maxHeaderBytes && fields <= maxHeaderCount) return undefined;
  return `the answer's head is over the pool's limits (${maxHeaderBytes} bytes, ${maxHeaderCount} fields): ${bytes} bytes, ${fields} fields`;
}
