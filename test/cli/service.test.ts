// `sealmail install-service` / `uninstall-service` into a private HOME. The
// test never touches the real user systemd: SEALMAIL_NO_SYSTEMCTL keeps the
// CLI off systemctl, and `systemd-analyze --user verify` (where installed,
// Debian package `systemd`) runs with its own XDG_RUNTIME_DIR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { cliEnv, runCli } from '../support/cli.js';

const analyze = spawnSync('which', ['systemd-analyze'], { encoding: 'utf8' });
const systemdAnalyze = analyze.status === 0 ? analyze.stdout.trim() : null;

test('install-service writes a user unit that systemd-analyze accepts; uninstall-service removes it', async (t) => {
  const { home, env } = await cliEnv();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  env.SEALMAIL_NO_SYSTEMCTL = '1';
  const passphraseFile = join(home, 'passphrase');
  writeFileSync(passphraseFile, 'correct horse battery staple\n');
  chmodSync(passphraseFile, 0o644);

  // A passphrase file others can read is refused, and nothing is written.
  const loose = runCli(env, ['install-service', '--passphrase-file', passphraseFile]);
  assert.notEqual(loose.status, 0);
  assert.match(loose.stderr, /^sealmail: the passphrase file .* is readable by others \(mode 644\); run: chmod 600/);
  const unit = join(home, '.config/systemd/user/sealmail.service');
  assert.ok(!existsSync(unit));

  chmodSync(passphraseFile, 0o600);
  const r = runCli(env, ['install-service', '--passphrase-file', passphraseFile]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`wrote ${unit.replace(/[.]/g, '\\.')}`));
  assert.match(r.stdout, /systemctl --user enable --now sealmail\.service/, 'prints the commands when it does not run them');
  assert.equal(statSync(unit).mode & 0o777, 0o600);
  const text = readFileSync(unit, 'utf8');
  assert.match(text, new RegExp(`^ExecStart=${process.execPath.replace(/[.]/g, '\\.')} \\S+/bin/sealmail\\.js start$`, 'm'));
  assert.match(text, new RegExp(`^LoadCredential=passphrase:${passphraseFile.replace(/[.]/g, '\\.')}$`, 'm'));
  assert.match(text, new RegExp(`^Environment=SEALMAIL_DATA_DIR=${home.replace(/[.]/g, '\\.')}/\\.local/share/sealmail$`, 'm'));
  assert.match(text, /^Restart=on-failure$/m);
  const pool = Math.max(2, Math.min(4, availableParallelism()));
  assert.match(text, new RegExp(`^Environment=UV_THREADPOOL_SIZE=${pool}$`, 'm'), 'the libuv pool no larger than the cores (set before node starts)');
  assert.match(text, /^RestartPreventExitStatus=78$/m, 'a wrong or missing passphrase is not retried');
  assert.doesNotMatch(text, /network-online/, "a user manager has no network-online.target (it is the system manager's)");
  assert.match(text, /^WantedBy=default\.target$/m);
  assert.doesNotMatch(text, /correct horse/, 'the passphrase itself is not in the unit');

  if (!systemdAnalyze) {
    t.diagnostic('systemd-analyze not installed (Debian package `systemd`): unit not verified');
  } else {
    const runtime = join(home, 'run');
    mkdirSync(runtime, { mode: 0o700 });
    const v = spawnSync(systemdAnalyze, ['--user', 'verify', unit], { env: { PATH: env.PATH, HOME: home, XDG_RUNTIME_DIR: runtime }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(v.status, 0, `systemd-analyze --user verify failed:\n${v.stdout}${v.stderr}`);
    assert.equal(`${v.stdout}${v.stderr}`.trim(), '', 'no warnings (unknown keys, missing files)');
  }

  const u = runCli(env, ['uninstall-service']);
  assert.equal(u.status, 0, u.stderr);
  assert.match(u.stdout, /removed /);
  assert.ok(!existsSync(unit));
  const again = runCli(env, ['uninstall-service']);
  assert.equal(again.status, 0);
  assert.match(again.stdout, /no unit at /);
});

test('npm start (scripts/start.cjs) sizes the libuv pool as the unit does, before the pool starts, and keeps a size given', async (t) => {
  const { threadPoolSize } = await import('../../src/daemon/service.js');
  const dir = join(process.env.TMPDIR ?? '/tmp', `sealmail-start-entry-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Reports, as the process ends, the size the environment asked for and the process's thread count.
  const probe = join(dir, 'probe.cjs');
  writeFileSync(
    probe,
    "process.on('exit', () => process.stderr.write(`POOL ${process.env.UV_THREADPOOL_SIZE} ${require('node:fs').readdirSync('/proc/self/task').length}\\n`));\n",
  );
  const root = join(import.meta.dirname, '..', '..');
  const run = (extra: NodeJS.ProcessEnv) => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, NODE_OPTIONS: `--require ${probe}`, ...extra };
    const r = spawnSync(process.execPath, [join(root, 'scripts/start.cjs'), '--version'], { env, encoding: 'utf8', cwd: root, timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\d+\.\d+\.\d+/m, 'the CLI ran');
    const m = /POOL (\S+) (\d+)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    return { size: m[1], threads: Number(m[2]) };
  };
  const chosen = run({});
  assert.equal(chosen.size, String(threadPoolSize()));
  const given = run({ UV_THREADPOOL_SIZE: '4' });
  assert.equal(given.size, '4', 'a size given is kept');
  // The pool really has that many threads: the same run with 4 has (4 - chosen) more.
  assert.equal(given.threads - chosen.threads, 4 - threadPoolSize(), `threads: ${chosen.threads} with the chosen size, ${given.threads} with 4`);
});
