// Which fields belong to one connection's framing rather than to the message (RFC 9110 section 7.6.1).

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
]);

/** Prefix of every field of the transform protocol's own (request context, ids, `Transform-Error`). */
export const TRANSFORM_PREFIX = 'transform-';

/** Prefix of the fields that carry request context to a transform; never part of a returned response. */
export const CONTEXT_PREFIX = 'transform-request-';

/**
 * Whether a lower-case field name is framing or hop-by-hop: these are never copied from one message to
 * another, because the codec writes its own framing.
 */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith('proxy-');
}

/** The field names a `Connection` value lists, lower-cased: those fields are hop-by-hop too. */
export function getConnectionTokens(value: string | null): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token.length > 0);
}

const canonicalNames = new Map<string, string>();

/** `content-type` → `Content-Type`: what older transforms expect to read; cached, heads repeat names. */
export function toCanonicalName(name: string): string {
  let canonical = canonicalNames.get(name);
  if (canonical === undefined) {
    canonical = name.replace(
      /(^|-)([a-z])/g,
      (_, dash: string, letter: string) => dash + letter.toUpperCase(),
    );
    if (canonicalNames.size < 1024) canonicalNames.set(name, canonical);
  }
  return canonical;
}
