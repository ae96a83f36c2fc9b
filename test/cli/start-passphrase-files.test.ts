// `sealmail start --passphrase-file` on a configuration with several
// accounts, through the real CLI. It used to hand the one file to every
// account, so on a quickstart (two accounts, two passphrase files) the demo
// account got alice's passphrase and the start failed with exit 78. Now a
// plain FILE is for the accounts without a passphrase file of their own
// (refused when there are none), and ADDRESS=FILE is for one account.
// Also: `sealmail status` says when config.json turned blob GC off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { blobGcLine } from '../../src/cli/info.js';
import { cliEnv, pollStatus, readCliConfig, runCli, startCli, stopDaemonsThenRemoveHome } from '../support/cli.js';

interface Status {
  accounts: Array<{ address: string; blobGc: { enabled: boolean } }>;
}

test('start --passphrase-file with two accounts: a plain file is for the account without its own, ADDRESS=FILE for one; status shows blob GC off', { timeout: 300_000 }, async (t) => {
  const { home, env } = await cliEnv();
  const daemons = stopDaemonsThenRemoveHome(t, home);

  // The quickstart: alice and demo, each with its own generated passphrase file.
  const first = await startCli(env);
  daemons.push(first);
  assert.equal(await first.stop(), 0);
  daemons.pop();
  const [alice, demo] = readCliConfig(env).accounts;
  assert.ok(alice?.passphraseFile && demo?.passphraseFile);
  const copy = (name: string, from: string): string => {
    const file = join(home, name);
    writeFileSync(file, readFileSync(from, 'utf8'), { mode: 0o600 });
    return file;
  };
  const aliceFile = copy('alice-passphrase', alice.passphraseFile);
  const demoFile = copy('demo-passphrase', demo.passphraseFile);

  // Both accounts read their own files: a plain file would be used by none, so it is refused (not given to both).
  const unused = runCli(env, ['start', '--passphrase-file', aliceFile]);
  assert.equal(unused.status, 1, unused.stdout + unused.stderr);
  assert.match(unused.stderr, /every other account reads its own passphrase file \(alice@[^,]+, demo@[^)]+\), so this file would not be used; to give one account this passphrase: --passphrase-file ADDRESS=/);
  assert.doesNotMatch(unused.stderr, /\n\s+at /, 'no stack trace');
  const unknown = runCli(env, ['start', '--passphrase-file', `nobody@example.org=${aliceFile}`]);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /no account nobody@example\.org is configured \(accounts: alice@/);

  // alice without a passphrase file of her own (she would be asked), blob GC turned off.
  const configFile = join(home, '.config', 'sealmail', 'config.json');
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as { accounts: Array<{ passphraseFile?: string }>; blobGc?: unknown };
  delete config.accounts[0]!.passphraseFile;
  config.blobGc = { enabled: false };
  writeFileSync(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });

  // The plain file goes to alice only: demo keeps reading its own (different) passphrase, so the start succeeds.
  const second = await startCli(env, { args: ['--passphrase-file', aliceFile] });
  daemons.push(second);
  assert.match(second.stdout(), new RegExp(`passphrase from \\S+alice-passphrase for ${alice.address.replace('.', '\\.')} \\(${demo.address.replace('.', '\\.')} read their own passphrase file\\)`));
  const s = await pollStatus<Status>(env, (x) => x.accounts.length === 2 && x.accounts.every((a) => a.blobGc !== undefined));
  assert.deepEqual(s.accounts.map((a) => a.blobGc.enabled), [false, false], 'status.json says collection is off');
  const status = runCli(env, ['status']);
  assert.equal(status.status, 0, status.stderr);
  assert.equal(status.stdout.split('expunged content: kept, blob garbage collection is off ("blobGc": {"enabled": false} in config.json)').length - 1, 2, status.stdout);
  assert.doesNotMatch(status.stdout, /freed \(/);
  assert.equal(await second.stop(), 0);
  daemons.pop();

  // ADDRESS=FILE for each account overrides their own files (here: the same passphrases, so the start works).
  const third = await startCli(env, { args: ['--passphrase-file', `${alice.address}=${aliceFile}`, '--passphrase-file', `${demo.address.toUpperCase()}=${demoFile}`] });
  daemons.push(third);
  assert.doesNotMatch(third.stdout(), /passphrase from/, 'no note when every account was named');
  assert.equal(await third.stop(), 0);
  daemons.pop();
});

test('the expunged-content line: counts while collection is on, "off" when config.json turned it off', () => {
  const stats = { runs: 3, lastRunAt: null, freedBlobs: 2, freedBytes: 2_500_000, pending: 1, lastError: null };
  assert.equal(blobGcLine({ ...stats, enabled: true }), 'expunged content: 2 freed (2.5 MB) since start, 1 waiting');
  assert.equal(blobGcLine({ ...stats, enabled: false }), 'expunged content: kept, blob garbage collection is off ("blobGc": {"enabled": false} in config.json)');
  assert.match(blobGcLine({ ...stats, enabled: false, lastError: 'disk full' }), /is off .*, last error: disk full$/);
});
