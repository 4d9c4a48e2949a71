// The layer rules of .dependency-cruiser.cjs, run by the real dependency-cruiser: src/ keeps them, and a bad
// import in a scratch tree fails with the rule's name.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs');
// dependency-cruiser 18 needs Node 22 or later: the `node` dev dependency (Node 24) runs it under any runtime.
const NODE = join(ROOT, 'node_modules/node/bin/node');

const { forbidden } = createRequire(import.meta.url)(CONFIG) as {
  forbidden: { name: string; comment: string }[];
};

/** The rule's comment: what a violation prints, saying which layer may import which. */
function getMessage(rule: string): string {
  const found = forbidden.find((candidate) => candidate.name === rule);
  if (found === undefined) throw new Error(`No rule ${rule} in .dependency-cruiser.cjs`);
  return found.comment;
}

interface Cruise {
  code: number;
  output: string;
}

function cruise(cwd: string): Promise<Cruise> {
  return new Promise((resolve) => {
    execFile(
      NODE,
      [DEPCRUISE, '--config', CONFIG, '--output-type', 'err-long', 'src'],
      { cwd, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, output: stdout + stderr });
      },
    );
  });
}

let scratch: string | undefined;

afterEach(async () => {
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
});

/** A scratch tree under the repo (so that packages resolve), each file given as path and source. */
async function makeTree(files: Record<string, string>): Promise<string> {
  await mkdir(join(ROOT, '.scratch'), { recursive: true });
  scratch = await mkdtemp(join(ROOT, '.scratch', 'layers-'));
  for (const [path, source] of Object.entries(files)) {
    const file = join(scratch, path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, source);
  }
  return scratch;
}

describe('layer rules', () => {
  it('passes on src/: no cycle, no import upwards or sideways', async () => {
    const result = await cruise(ROOT);
    expect(result.output).toContain('no dependency violations found');
    expect(result.code).toBe(0);
  });

  it.each([
    ['filter/ importing the wrapper above it', 'src/filter/a.ts', '../wrapper/b.ts', 'layer-filter'],
    [
      'pool/ importing filter/ (the pool of filter children above it)',
      'src/pool/a.ts',
      '../filter/b.ts',
      'layer-pool',
    ],
    ['shared/ importing the wrapper above it', 'src/shared/a.ts', '../wrapper/b.ts', 'layer-shared'],
    ['shared/ importing a pool kind', 'src/shared/a.ts', '../pool/b.ts', 'layer-shared'],
    ['wire/ importing shared/', 'src/wire/a.ts', '../shared/b.ts', 'layer-wire'],
    ['util/ importing wire/', 'src/util/a.ts', '../wire/b.ts', 'layer-util'],
    ['child/ importing shared/', 'src/child/a.ts', '../shared/b.ts', 'layer-child'],
    ['metrics/ importing pool/', 'src/metrics/a.ts', '../pool/b.ts', 'layer-metrics'],
    ['cli/ importing pool/', 'src/cli/a.ts', '../pool/b.ts', 'layer-cli'],
    ['a layer importing the package entry', 'src/wrapper/a.ts', '../index.ts', 'no-entry-import'],
  ])('fails on %s, naming the rule', async (_name, from, specifier, rule) => {
    const target = join(dirname(from), specifier);
    const cwd = await makeTree({
      [from]: `import { b } from '${specifier}';\nexport const a = b;\n`,
      [target]: 'export const b = 1;\n',
    });
    const result = await cruise(cwd);
    expect(result.output).toContain(`error ${rule}: ${from} → ${target}`);
    // err-long wraps the message at 80 columns.
    expect(result.output.replace(/\s+/g, ' ')).toContain(getMessage(rule));
    expect(result.code).toBeGreaterThan(0);
  });

  it('counts a type-only import as a dependency', async () => {
    const cwd = await makeTree({
      'src/shared/a.ts': "import type { B } from '../pool/b.ts';\nexport type A = B;\n",
      'src/pool/b.ts': 'export type B = number;\n',
    });
    const result = await cruise(cwd);
    expect(result.output).toContain('error layer-shared: src/shared/a.ts → src/pool/b.ts');
    expect(result.code).toBeGreaterThan(0);
  });

  it('fails on an import cycle inside one layer', async () => {
    const cwd = await makeTree({
      'src/pool/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
      'src/pool/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
    });
    const result = await cruise(cwd);
    expect(result.output).toContain('error no-circular: src/pool/a.ts →');
    expect(result.code).toBeGreaterThan(0);
  });

  it('fails on child/ importing execa', async () => {
    const cwd = await makeTree({
      'src/child/a.ts': "import { execa } from 'execa';\nexport const a = execa;\n",
    });
    const result = await cruise(cwd);
    expect(result.output).toContain('error child-no-process-libraries: src/child/a.ts → ');
    expect(result.code).toBeGreaterThan(0);
  });
});
