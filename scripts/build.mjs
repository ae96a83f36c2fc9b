#!/usr/bin/env node
// `npm run build`: compiles src/ to dist/ and then writes dist/.build-stamp,
// whose mtime is the moment the build started. bin/sealmail.js runs dist/
// only while no file under src/ is newer than the stamp, so after a
// `git pull` without a build it does not silently run old code. The stamp
// is removed first and written only after tsc succeeded.
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.build-stamp');
const started = new Date();
rmSync(stamp, { force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
mkdirSync(dirname(stamp), { recursive: true });
writeFileSync(stamp, `built from the sources of ${started.toISOString()}\n`);
utimesSync(stamp, started, started);
