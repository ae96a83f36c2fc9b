// bin/sealmail.js runs dist/ only while it is current: after a `git pull`
// without `npm run build`, `sealmail` (and the systemd service) ran old code
// while `npm start` ran the new. Tested on a copy of bin/ and
// scripts/build.mjs in a temporary project (a tiny src/ whose main says
// where it runs from), with the repository's node_modules linked in, so the
// repository's own files are never touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

function project(withNodeModules = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-bin-'));
  for (const d of ['bin', 'scripts', 'src/cli', 'src/util']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(join(ROOT, 'bin/sealmail.js'), join(dir, 'bin/sealmail.js'));
  copyFileSync(join(ROOT, 'scripts/build.mjs'), join(dir, 'scripts/build.mjs'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'bin-test', type: 'module' }));
  writeFileSync(
    join(dir, 'tsconfig.build.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, rootDir: 'src', outDir: 'dist', types: [] }, include: ['src'] }),
  );
  writeFileSync(join(dir, 'src/util/where.ts'), "export const where: string = 'v1';\n");
  writeFileSync(join(dir, 'src/cli/main.ts'), "import { where } from '../util/where.js';\nconsole.log(`${where} from ${import.meta.url.endsWith('.ts') ? 'sources' : 'dist'}`);\n");
  if (withNodeModules) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

function sealmail(dir: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(dir, 'bin/sealmail.js')], { encoding: 'utf8', cwd: tmpdir(), timeout: 60_000 });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

function build(dir: string): void {
  const r = spawnSync(process.execPath, [join(dir, 'scripts/build.mjs')], { encoding: 'utf8', cwd: dir, timeout: 120_000 });
  assert.equal(r.status, 0, `build failed: ${r.stdout}${r.stderr}`);
}

/** Sets the mtime to now, as a `git pull` after the build does to the files it changes. */
function touch(path: string): void {
  const now = new Date();
  utimesSync(path, now, now);
}

const STALE_WARNING = 'sealmail: dist/ is older than src/ (run npm run build); running the sources through tsx';

test('dist/ runs while current; a changed, new or deleted source makes sealmail run the sources with a warning', async (t) => {
  const dir = project();
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const unbuilt = sealmail(dir);
  assert.deepEqual([unbuilt.status, unbuilt.stdout, unbuilt.stderr], [0, 'v1 from sources', ''], 'no dist/: the sources, silently');

  build(dir);
  const fresh = sealmail(dir);
  assert.deepEqual([fresh.status, fresh.stdout, fresh.stderr], [0, 'v1 from dist', ''], 'just built: dist/, silently');

  // A pull changes a source: its new content runs, not dist/'s old one.
  writeFileSync(join(dir, 'src/util/where.ts'), "export const where: string = 'v2';\n");
  const changed = sealmail(dir);
  assert.equal(changed.status, 0, changed.stderr);
  assert.equal(changed.stdout, 'v2 from sources');
  assert.equal(changed.stderr, STALE_WARNING);

  build(dir);
  assert.equal(sealmail(dir).stdout, 'v2 from dist', 'built again: dist/ again');

  // A deleted source file (only its directory's new mtime says so).
  writeFileSync(join(dir, 'src/util/extra.ts'), 'export {};\n');
  build(dir);
  assert.equal(sealmail(dir).stdout, 'v2 from dist');
  unlinkSync(join(dir, 'src/util/extra.ts'));
  assert.equal(sealmail(dir).stderr, STALE_WARNING);

  // A dist/ built before the stamp existed (or by a bare tsc) is not trusted.
  build(dir);
  unlinkSync(join(dir, 'dist/.build-stamp'));
  const unstamped = sealmail(dir);
  assert.equal(unstamped.stdout, 'v2 from sources');
  assert.equal(unstamped.stderr, STALE_WARNING);
});

test('a failed build leaves no stamp: the old dist/ is not taken for current', async (t) => {
  const dir = project();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  build(dir);
  writeFileSync(join(dir, 'src/util/where.ts'), "export const where: number = 'not a number';\n");
  const r = spawnSync(process.execPath, [join(dir, 'scripts/build.mjs')], { encoding: 'utf8', cwd: dir, timeout: 120_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout + r.stderr, /TS2322/);
  assert.equal(sealmail(dir).stderr, STALE_WARNING);
});

test('a stale dist/ without tsx to run the sources: sealmail refuses with the fix', async (t) => {
  const dir = project(false);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Built with the repository's TypeScript, then node_modules gone (a production install without tsx).
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  build(dir);
  unlinkSync(join(dir, 'node_modules'));
  assert.equal(sealmail(dir).stdout, 'v1 from dist');
  touch(join(dir, 'src/cli/main.ts'));
  const r = sealmail(dir);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'sealmail: dist/ is older than src/: run npm run build');
});
