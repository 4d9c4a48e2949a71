import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  exports: Record<string, { types: string; default: string } | string>;
  bin: Record<string, string>;
};
const denoManifest = JSON.parse(readFileSync(join(root, 'deno.json'), 'utf8')) as {
  name: string;
  version: string;
  exports: Record<string, string>;
};

describe('the package', () => {
  it('exports the same entry points, name and version to npm and JSR, types first, all built', () => {
    const entries = Object.keys(manifest.exports).filter((key) => key !== './package.json');
    expect(entries).toEqual(['.', './child', './wire', './hono']);
    expect(Object.keys(denoManifest.exports)).toEqual(entries);
    // JSR publishes deno.json's name and version: the same release as npm's.
    expect(denoManifest.name).toMatch(/^@[a-z0-9-]+\/subprocess-transform$/);
    expect(denoManifest.version).toBe(manifest.version);
    for (const key of entries) {
      const target = manifest.exports[key] as { types: string; default: string };
      expect(Object.keys(target)).toEqual(['types', 'default']);
      expect(existsSync(join(root, target.types))).toBe(true);
      expect(existsSync(join(root, target.default))).toBe(true);
    }
    expect(Object.keys(manifest.bin)).toEqual(['subprocess-transform']);
  });

  it('has the version of the newest release in CHANGELOG.md, dated', () => {
    const changelog = readFileSync(join(root, 'CHANGELOG.md'), 'utf8');
    const [newest] = changelog.match(/^## \d+\.\d+\.\d+ - \d{4}-\d{2}-\d{2}$/m) ?? [];
    expect(newest).toMatch(new RegExp(`^## ${manifest.version.replaceAll('.', '\\.')} - `));
  });

  it('packs the built JavaScript, its types, the Python helper, README.md, docs/, CHANGELOG.md, LICENSE and the examples the docs show, and no sources, tests, maps or bytecode', async () => {
    // Scripts are skipped: vitest built dist/ before the run, and `prepack` would build it again.
    const { stdout } = await execa('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
    const [packed] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    const files = packed.files.map((file) => file.path);
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json']));
    expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts']));
    // The README links to the reference pages: they travel with it, so the links work in an install too.
    expect(files).toEqual(expect.arrayContaining(['docs/options.md', 'docs/troubleshooting.md']));
    expect(files).toEqual(
      expect.arrayContaining(['dist/child/index.js', 'dist/wire/index.js', 'dist/cli/main.js']),
    );
    // Shipped as a source file: a Python transform imports it from the installed package (docs/protocol.md).
    expect(files).toContain('python/subprocess_transform.py');
    // The examples the README and docs show, as their first lines name them: a reader finds each one there.
    const pages = ['README.md', ...readdirSync(join(root, 'docs')).map((name) => `docs/${name}`)];
    const shown = pages.flatMap((page) =>
      [...readFileSync(join(root, page), 'utf8').matchAll(/^(?:\/\/|#) (examples\/[\w.-]+)$/gm)].map(
        (match) => match[1] as string,
      ),
    );
    expect(files.filter((file) => file.startsWith('examples/')).sort()).toEqual([...new Set(shown)].sort());
    const unexpected = files.filter(
      (file) =>
        !['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json', 'python/subprocess_transform.py'].includes(
          file,
        ) &&
        !shown.includes(file) &&
        !/^dist\/.+\.(js|d\.ts)$/.test(file) &&
        !/^docs\/[a-z-]+\.md$/.test(file),
    );
    expect(unexpected).toEqual([]);
    expect(files.filter((file) => /^(src|test)\//.test(file))).toEqual([]);
  });

  it('loads the Hono entry without hono at run time: hono is an optional peer', () => {
    const manifestPeers = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
      devDependencies: Record<string, string>;
    };
    expect(manifestPeers.peerDependenciesMeta.hono?.optional).toBe(true);
    expect(manifestPeers.devDependencies.hono).toBeDefined();
    const built = readFileSync(join(root, 'dist', 'hono', 'index.js'), 'utf8');
    // Its import of hono is for types only, erased from the build (the JSDoc example may name hono).
    expect(built).not.toMatch(/^\s*(import|export)\b[^;]*['"]hono['"/]|import\(\s*['"]hono/m);
  });

  it('loads @opentelemetry/api only by a dynamic import that may fail: it is an optional peer', () => {
    const manifestPeers = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    expect(manifestPeers.peerDependenciesMeta['@opentelemetry/api']?.optional).toBe(true);
    const built = readdirSync(join(root, 'dist'), { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.js'))
      .map((name) => readFileSync(join(root, 'dist', name), 'utf8'))
      .join('\n');
    expect(built).not.toMatch(/^\s*(import|export)\b[^;]*['"]@opentelemetry\//m);
    expect(built).toContain("const API_MODULE = '@opentelemetry/api';");
  });

  it('is imported by name from plain Node in another folder', async () => {
    const consumer = mkdtempSync(join(tmpdir(), 'consumer-'));
    mkdirSync(join(consumer, 'node_modules'));
    symlinkSync(root, join(consumer, 'node_modules', 'subprocess-transform'));
    writeFileSync(
      join(consumer, 'package.json'),
      JSON.stringify({ type: 'module', dependencies: { 'subprocess-transform': '*' } }),
    );
    writeFileSync(
      join(consumer, 'main.js'),
      `import * as main from 'subprocess-transform';
import * as child from 'subprocess-transform/child';
import * as wire from 'subprocess-transform/wire';
import * as hono from 'subprocess-transform/hono';
const handler = main.withTransform(() => new Response('by name'), { command: ['cat'], processes: 1 });
const text = await (await handler(new Request('http://localhost/'))).text();
await handler.pool.close();
console.log(JSON.stringify({ text, main: Object.keys(main).sort(), child: Object.keys(child).sort(), wire: Object.keys(wire).sort(), hono: Object.keys(hono).sort() }));
`,
    );
    const { stdout } = await execa(process.execPath, ['main.js'], { cwd: consumer });
    expect(JSON.parse(stdout)).toEqual({
      text: 'by name',
      main: [
        'TransformError',
        'createMetricsHandler',
        'createTransformPool',
        'formatMetrics',
        'isTransformable',
        'withTransform',
      ],
      child: ['serveTransform'],
      wire: [
        'BodyChannel',
        'DEFAULT_LIMITS',
        'ResponseDecoderStream',
        'ResponseEncoder',
        'ResponseEncoderStream',
        'ResponseParser',
        'WireError',
        'createResponse',
        'encodeResponse',
        'hasBody',
        'parseResponses',
        'serializeResponse',
      ],
      hono: ['transform'],
    });
  });

  // npm install takes seconds alone and far longer on a busy machine: a generous bound, never a measure.
  it(
    'installs from its tarball into an empty folder with no warning from this package, and runs',
    {
      timeout: 300_000,
    },
    async () => {
      const folder = mkdtempSync(join(tmpdir(), 'tarball-'));
      onTestFinished(() => rmSync(folder, { recursive: true, force: true }));
      // dist/ was built by vitest's global setup: `prepack` need not build it again.
      const { stdout: packed } = await execa(
        'npm',
        ['pack', '--json', '--ignore-scripts', '--pack-destination', folder],
        { cwd: root },
      );
      const [{ filename }] = JSON.parse(packed) as [{ filename: string }];
      const app = join(folder, 'app');
      mkdirSync(app);
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'app', private: true, type: 'module' }),
      );
      // Its dependencies come from npm's cache when they are there, as for a user who installed before.
      const install = await execa(
        'npm',
        ['install', '--prefer-offline', '--no-audit', '--no-fund', join(folder, filename)],
        { cwd: app, all: true, env: { npm_config_loglevel: 'warn' } },
      );
      const installed = join(app, 'node_modules', 'subprocess-transform');
      const { scripts = {} } = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
        scripts?: Record<string, string>;
      };
      // npm runs (or, since npm 11, warns about) these when a package is installed: the build runs on prepack.
      const installScripts = ['preinstall', 'install', 'postinstall', 'prepare'].filter(
        (name) => name in scripts,
      );
      expect(installScripts).toEqual([]);
      const ours = install.all
        .split('\n')
        .filter((line) => /warn|err/i.test(line) && /subprocess-transform/.test(line));
      expect(ours, install.all).toEqual([]);
      expect(existsSync(join(installed, 'CHANGELOG.md'))).toBe(true);
      // Optional peers are not installed: the package runs without them, tracing off, and says nothing.
      expect(existsSync(join(app, 'node_modules', '@opentelemetry'))).toBe(false);
      writeFileSync(
        join(app, 'main.js'),
        `import { createTransformPool } from 'subprocess-transform';
const pool = createTransformPool({ command: ['cat'], processes: 1 });
console.log(await (await pool.transform(new Response('from the tarball'))).text());
await pool.close();
`,
      );
      const { stdout, stderr } = await execa(process.execPath, ['main.js'], { cwd: app });
      expect(stdout).toBe('from the tarball');
      expect(stderr).toBe('');
    },
  );
});
