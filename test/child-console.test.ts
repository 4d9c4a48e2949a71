// console.log in a serveTransform child goes to stderr from the moment `subprocess-transform/child` is
// imported, not only once serveTransform() runs: a log while the transform's modules load must never reach
// stdout, where the parent would read it as the first bytes of an answer. Under every runtime a child runs in.
import { describe, expect, it } from 'vitest';
import { createTransformPool } from '../src/index.ts';
import { CHILD_RUNTIMES } from './_child-runtimes.ts';
import { fixture, StderrLines, track } from './_utils.ts';

describe('console.log before serveTransform()', () => {
  for (const { runtime, argv } of CHILD_RUNTIMES) {
    it(`goes to stderr and leaves the answers intact under ${runtime}`, async () => {
      const stderr = new StderrLines();
      const pool = track(
        createTransformPool({
          command: [...argv, fixture('log-at-import.mjs')],
          processes: 1,
          ...stderr.options(),
        }),
      );
      for (const body of ['first', 'second']) {
        const response = await pool.transform(new Response(body, { headers: { 'x-body': body } }));
        expect(response.status).toBe(200);
        expect(response.headers.get('x-body')).toBe(body);
        expect(await response.text()).toBe(body.toUpperCase());
      }
      expect(pool.stats()).toMatchObject({ started: 1, exited: 0, ok: 2, failed: 0 });
      for (const line of ['logged at import', 'info at import', 'logged before serveTransform()']) {
        expect(stderr.lines).toContain(line);
      }
      expect(stderr.lines.some((line) => line.includes('table at import'))).toBe(true);
    });
  }
});
