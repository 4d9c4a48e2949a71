/**
 * How a `Transform-Error` reason starts when the transform's Response could not be read (locked, or failing
 * before its first byte). The filter child's failures come back with it when they fail just then, and the
 * filter pool reads them past it (filter/failure.ts).
 */
export const UNREADABLE_BODY_REASON = 'Its response body cannot be read: ';
