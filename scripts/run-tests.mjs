#!/usr/bin/env node
// Runs every test file under test/ with Node's built-in test runner (through
// tsx). Node 20's `--test` does not expand globs itself, so we collect the
// files here. Usage: node scripts/run-tests.mjs [suffix] [filter...]
//   suffix  defaults to ".test.ts" (".soak.ts" for `npm run soak`)
//   filter  optional substrings; only files whose path contains one run.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

const [suffix = '.test.ts', ...filters] = process.argv.slice(2);

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith(suffix)) out.push(path);
  }
  return out;
}

const files = collect('test').filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files matching *${suffix} ${filters.join(' ')}`);
  process.exit(1);
}
const concurrency = Math.max(2, availableParallelism());
// --test-force-exit: a file's process ends once its tests and hooks are done.
// Once, in a full run on the loaded 2-core machine, test/cli/key-type.test.ts
// passed in 4 s and its process then waited ~15 minutes on a timer left by a
// library (not reproduced in 3 runs alone); without this, one such timer
// holds the whole run (and CI) until it fires.
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-force-exit', `--test-concurrency=${concurrency}`, ...files],
  { stdio: 'inherit' },
);
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
