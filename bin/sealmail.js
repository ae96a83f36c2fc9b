#!/usr/bin/env node
// The installed `sealmail` command: runs the compiled CLI when built
// (npm run build), else the TypeScript sources through tsx.
//
// dist/ counts only while it is newer than every file under src/ (the
// build's dist/.build-stamp, see scripts/build.mjs): after a `git pull`
// without a build, `sealmail` and the systemd service would otherwise run
// old code while `npm start` runs the new. A stale dist/ is passed over for
// the sources, with a warning; without tsx to run them, sealmail refuses.
// The check is a stat of each file and directory under src/ (a few ms);
// directories count too, so a deleted source file is noticed.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli', 'main.js');
const stamp = join(root, 'dist', '.build-stamp');
const sources = join(root, 'src');

/** The newest mtime (ms) of src/ and everything under it; 0 without src/. */
function newestSource(dir) {
  let newest = 0;
  let entries;
  try {
    newest = statSync(dir).mtimeMs;
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return newest;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    const t = e.isDirectory() ? newestSource(path) : statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    if (t > newest) newest = t;
  }
  return newest;
}

function distIsCurrent() {
  if (!existsSync(sources)) return true; // an installed package without its sources
  const builtAt = statSync(stamp, { throwIfNoEntry: false })?.mtimeMs;
  // Strictly newer: npm packs every file with one fixed mtime.
  return builtAt !== undefined && newestSource(sources) <= builtAt;
}

if (existsSync(built) && distIsCurrent()) {
  await import(pathToFileURL(built).href);
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write(existsSync(built) ? 'sealmail: dist/ is older than src/: run npm run build\n' : 'sealmail: not built and tsx is not installed: run npm install, or npm run build\n');
    process.exit(1);
  }
  if (existsSync(built)) process.stderr.write('sealmail: dist/ is older than src/ (run npm run build); running the sources through tsx\n');
  register();
  await import(pathToFileURL(join(sources, 'cli', 'main.ts')).href);
}
