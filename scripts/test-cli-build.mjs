// The CLI as plain JavaScript for the test run: scripts/run-tests.mjs
// transpiles src/ once (esbuild, the transpiler tsx itself uses; no type
// check, `npm test` runs tsc first) and hands the entry to the tests in
// SEALMAIL_TEST_CLI; test/support/cli.ts then starts `node <entry>` instead
// of `node --import tsx src/cli/main.ts`. A CLI or daemon process through
// tsx spends ~1 s of CPU starting (tsx's loader hooks see every import),
// plain JS ~0.5 s, and the suite starts a few hundred of them.
//
// Each build sits in node_modules/.cache/sealmail/cli-build/<hash of src/>
// and is never changed once made, so test runs going on at the same time in
// one work tree never see a build replaced under them. The layout is dist/'s
// (<build>/cli/main.js), and <build>/bin and <build>/README.md link to the
// repository's, so code that finds the repository two levels above itself
// (src/cli/service.ts) finds them there too.
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

/** Builds src/ if this version of it has no build yet; returns the path of its cli/main.js. */
export async function buildCliForTests() {
  const src = join(ROOT, 'src');
  const files = sources(src);
  const hash = createHash('sha256');
  for (const f of files) hash.update(relative(src, f)).update('\0').update(readFileSync(f)).update('\0');
  const dir = join(BUILDS, hash.digest('hex').slice(0, 16));
  const entry = join(dir, 'cli', 'main.js');
  if (!existsSync(entry)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    await build({ entryPoints: files, outdir: tmp, outbase: src, format: 'esm', platform: 'node', target: 'node20', logLevel: 'error' });
    await stop(); // esbuild's service process would otherwise live as long as the test run
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
  return entry;
}
