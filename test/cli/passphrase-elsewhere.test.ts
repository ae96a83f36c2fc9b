// A device whose passphrase was changed on another device, through the real
// CLI: while its daemon runs, the provider ends its session and `sealmail
// status` says so (logged once); restarted with the OLD passphrase it used to
// fall back to its cached, revoked session and get 401 from sync forever.
// Now the refused login is followed by a check of the cached session: the
// provider refuses that too and the store still opens with the passphrase,
// so the daemon exits non-zero with one sentence telling the user to start
// with the new passphrase.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accountDir } from '../../src/daemon/account.js';
import { cliEnv, pollStatus, readCliConfig, runCli, secondDeviceEnv, startCli, stopDaemonsThenRemoveHome } from '../support/cli.js';

interface Status {
  accounts: Array<{ address: string; problem: string | null }>;
}

test('passphrase changed on another device: the running daemon reports its ended session; a restart with the old passphrase exits with one sentence', { timeout: 240_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  const daemons = stopDaemonsThenRemoveHome(t, home);

  daemons.push(await startCli(env));
  const alice = readCliConfig(env).accounts[0]!;
  const oldPassphrase = readFileSync(alice.passphraseFile!, 'utf8').trim();
  const oldFile = join(home, 'old-passphrase');
  const newFile = join(home, 'new-passphrase');
  writeFileSync(oldFile, oldPassphrase + '\n', { mode: 0o600 });
  writeFileSync(newFile, 'the new passphrase of alice\n', { mode: 0o600 });

  // The other device, set up and running before the change; its passphrase file keeps the old one.
  const { env: env2, providerUrl } = await secondDeviceEnv({ home, env, ports });
  const device2File = join(home, 'device2-passphrase');
  writeFileSync(device2File, oldPassphrase + '\n', { mode: 0o600 });
  const setup = runCli(env2, ['account', 'login', '--provider', providerUrl, alice.address, '--passphrase-file', device2File]);
  assert.equal(setup.status, 0, setup.stderr);
  const device2 = await startCli(env2);
  daemons.push(device2);
  const before = await pollStatus<Status>(env2, (s) => s.accounts.length === 1);
  assert.equal(before.accounts[0]!.problem, null, 'no problem before the change');

  const change = runCli(env, ['passphrase', 'change', '--account', alice.address, '--current-file', oldFile, '--new-file', newFile]);
  assert.equal(change.status, 0, change.stderr);

  // The running second device: its session ended; status says what to do.
  const after = await pollStatus<Status>(env2, (s) => s.accounts[0]!.problem !== null, 90_000);
  assert.match(after.accounts[0]!.problem!, /ended this device's session.*restart the daemon, with the new passphrase/);
  const status = runCli(env2, ['status']);
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /PROBLEM: the provider ended this device's session/);
  // Logged once, not at every retry of sync (it retries after 1, then 2 s).
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(device2.stderr().split("refuses this device's session").length - 1, 1, 'one log line about it');
  assert.equal(await device2.stop(), 0);
  daemons.pop();

  // Restarted with the old passphrase: one sentence, a non-zero exit, no stack trace, no 401 loop.
  const session = join(accountDir(env2.SEALMAIL_DATA_DIR!, alice.address), 'session.json');
  assert.ok(existsSync(session), 'the revoked session is still cached here');
  const restart = runCli(env2, ['start']);
  assert.equal(restart.status, 78, `exit status EX_CONFIG (the systemd unit does not restart on it)\n${restart.stdout}${restart.stderr}`);
  assert.match(restart.stderr, new RegExp(`sealmail: the passphrase of ${alice.address.replace(/\./g, '\\.')} was changed on another device .*; start with the new passphrase\\n`));
  assert.doesNotMatch(restart.stderr, /\n\s+at /, 'no stack trace');
  assert.doesNotMatch(restart.stdout, /sealmail is running/);
  assert.equal(existsSync(session), false, 'the revoked session is forgotten');

  // A mistyped passphrase is still just wrong (the store does not open with it either).
  const typoFile = join(home, 'typo');
  writeFileSync(typoFile, 'not the passphrase at all\n', { mode: 0o600 });
  const typo = runCli(env2, ['start', '--passphrase-file', typoFile]);
  assert.equal(typo.status, 78);
  assert.match(typo.stderr, /sealmail: wrong passphrase for /);

  // (Started with the new passphrase it logs in and takes the provider's new wrapping: passphrase-change.test.ts.)
});
