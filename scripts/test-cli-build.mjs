// The CLI (and the test's own child-process scripts) as plain JavaScript for
// the test run: scripts/run-tests.mjs transpiles src/ and test/ once
// (esbuild, the transpiler tsx itself uses; no type check, `npm test` runs
// tsc first) and hands the build to the tests: SEALMAIL_TEST_CLI is its
// cli/main.js, SEALMAIL_TEST_BUILD its root. test/support/cli.ts then starts
// `node <entry>` instead of `node --import tsx src/cli/main.ts`. A CLI or
// daemon process through tsx spends ~1 s of CPU starting (tsx's loader hooks
// see every import), plain JS ~0.5 s, and the suite starts a few hundred.
//
// Each build sits in node_modules/.cache/sealmail/cli-build/<hash of the
// sources> and is never changed once made, so test runs going on at the same
// time in one work tree never see a build replaced under them. It mirrors
// the repository (<build>/src, <build>/test), and <build>/bin and
// <build>/README.md link to the repository's, so code that finds the
// repository two levels above itself (src/cli/service.ts) finds them there.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, stop } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILDS = join(ROOT, 'node_modules', '.cache', 'sealmail', 'cli-build');
/** Builds not used for this long are removed. */
const KEEP_MS = 24 * 3600_000;

function sources(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(path));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(path);
  }
  return out.sort();
}

/** What a build's directory holds; part of its hash, so a changed layout is a new build. */
const LAYOUT = 'src+test v2';

/** Builds src/ and test/ if this version of them has no build yet; returns the build's root and its CLI entry. */
export async function buildForTests() {
  const files = [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'test'))];
  const hash = createHash('sha256').update(LAYOUT);
  for (const f of files) hash.update(relative(ROOT, f)).update('\0').update(readFileSync(f)).update('\0');
  const dir = join(BUILDS, hash.digest('hex').slice(0, 16));
  const entry = join(dir, 'src', 'cli', 'main.js');
  if (!existsSync(entry)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    try {
      await build({ entryPoints: files, outdir: tmp, outbase: ROOT, format: 'esm', platform: 'node', target: 'node20', logLevel: 'error' });
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    } finally {
      await stop(); // esbuild's service process would otherwise live as long as the test run
    }
    // Under node_modules Node does not look further up for package.json's "type".
    writeFileSync(join(tmp, 'package.json'), '{ "type": "module" }\n');
    symlinkSync(join(ROOT, 'bin'), join(tmp, 'bin'));
    symlinkSync(join(ROOT, 'README.md'), join(tmp, 'README.md'));
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another run built the same sources meanwhile
    }
  }
  // A build's directory mtime says when it was last used: old ones go.
  const now = new Date();
  try {
    utimesSync(dir, now, now);
    for (const name of readdirSync(BUILDS)) {
      const other = join(BUILDS, name);
      if (other !== dir && now.getTime() - statSync(other).mtimeMs > KEEP_MS) rmSync(other, { recursive: true, force: true });
    }
  } catch {
    // pruning is best effort
  }
  return { dir, cli: entry };
}
