#!/usr/bin/env node
// Runs every test file under test/ with Node's built-in test runner (through
// tsx). Node 20's `--test` does not expand globs itself, so we collect the
// files here. Usage: node scripts/run-tests.mjs [suffix] [filter...]
//   suffix  defaults to ".test.ts" (".soak.ts" for `npm run soak`)
//   filter  optional substrings; only files whose path contains one run.
// Files start longest first, by the durations the last runs recorded
// (./test-durations-reporter.mjs; files never timed go first): the files
// that start last are short ones, so the parallel slots end together instead
// of one slot running a long file alone at the end.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import { readDurations } from './test-durations-reporter.mjs';
import { buildForTests } from './test-cli-build.mjs';

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

const durations = readDurations();
const files = collect('test')
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort((a, b) => (durations[b] ?? Infinity) - (durations[a] ?? Infinity) || a.localeCompare(b));
if (files.length === 0) {
  console.error(`no test files matching *${suffix} ${filters.join(' ')}`);
  process.exit(1);
}
const concurrency = Math.max(2, availableParallelism());
// --test-force-exit: a file's process ends once its tests and hooks are done.
// Once, in a full run on the loaded 2-core machine, test/cli/key-type.test.ts
// passed and its process then stayed alive (~15 minutes, until stopped) on a
// referenced timer: the 10 s heartbeat interval express-pouchdb left behind
// for a longpoll aborted early (fixed in 339b971). Another such timer would
// hold the whole run (and CI) again.
// Node's default reporter (spec on a terminal, else TAP) stays as it was; the
// durations reporter records the times and prints the slowest files.
const reporters = [
  `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
  '--test-reporter-destination=stdout',
  `--test-reporter=${new URL('./test-durations-reporter.mjs', import.meta.url).href}`,
  '--test-reporter-destination=stderr',
];
// The CLI and daemon processes the tests start run from a plain-JS build
// (./test-cli-build.mjs). A source esbuild cannot read (someone's edit in
// progress) leaves them on tsx, where only the tests that load it fail.
const env = { ...process.env };
// Ports handed to test servers are claimed here by every test process of
// the run, so that no two get the same one (test/support/ports.ts).
const portClaims = mkdtempSync(join(tmpdir(), 'sealmail-test-ports-'));
env.SEALMAIL_TEST_PORT_CLAIMS = portClaims;
try {
  const build = await buildForTests();
  Object.assign(env, { SEALMAIL_TEST_CLI: build.cli, SEALMAIL_TEST_BUILD: build.dir });
} catch (err) {
  console.error(`run-tests: no plain-JS build (${err.message.split('\n')[0]}); the CLI runs through tsx`);
}
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-force-exit', `--test-concurrency=${concurrency}`, ...reporters, ...files],
  { stdio: 'inherit', env },
);
child.on('exit', (code, signal) => {
  rmSync(portClaims, { recursive: true, force: true });
  process.exit(signal ? 1 : (code ?? 1));
});
