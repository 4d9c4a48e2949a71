// console.log in a serveTransform child that a pool started goes to stderr from the moment
// `subprocess-transform/child` is imported, not only once serveTransform() runs: a log while the transform's
// modules load must never reach stdout, where the parent would read it as the first bytes of an answer. Under
// every runtime a child runs in. A program that imports the package without being a pool's child keeps its
// console until it calls serveTransform().
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { createTransformPool } from '../../src/index.ts';
import { CHILD_RUNTIMES } from '../_child-runtimes.ts';
import { fixture, nodeFixture, StderrLines, track } from '../_utils.ts';

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

  it('is left alone in a process no pool started, until serveTransform() is called on stdout', async () => {
    const [command = '', ...args] = nodeFixture('log-at-import.mjs');
    // No input: serveTransform() resolves at once, and the process exits.
    const alone = await execa(command, args, { input: '', env: { SUBPROCESS_TRANSFORM_CHILD: '' } });
    expect(alone.stdout).toContain('logged at import');
    expect(alone.stdout).toContain('logged before serveTransform()');
    expect(alone.stderr).toBe('');
    const marked = await execa(command, args, { input: '', env: { SUBPROCESS_TRANSFORM_CHILD: '1' } });
    expect(marked.stdout).toBe('');
    expect(marked.stderr).toContain('logged at import');
  });
});
