// `sealmail passphrase change` through the real CLI: the provider login
// (derived from the passphrase) follows the new passphrase, the re-wrapped
// storage secret reaches the provider (a new device restores with the new
// passphrase, the old one is refused in one sentence), a device set up
// before the change starts with the new passphrase, a crash between the
// provider step and the local one leaves the old passphrase working and a
// second run finishes the change, and `sealmail account logout` revokes every
// session of the account.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accountDir } from '../../src/daemon/account.js';
import { providerPassword } from '../../src/daemon/credentials.js';
import { cliEnv, readCliConfig, runCli, secondDeviceEnv, startCli, stopDaemonsThenRemoveHome } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

interface CachedSession {
  token: string;
  couchUrl: string;
}

function readSession(dataDir: string, address: string): CachedSession {
  return JSON.parse(readFileSync(join(accountDir(dataDir, address), 'session.json'), 'utf8')) as CachedSession;
}

/** Status of a read of the user's database at the sync gateway with this token. */
async function gatewayStatus(s: CachedSession): Promise<number> {
  const res = await fetch(s.couchUrl, { headers: { authorization: `Bearer ${s.token}` } });
  await res.body?.cancel();
  return res.status;
}

test('passphrase change: survives a crash after the provider step; restart, an existing and a new device use the new passphrase; the old one is refused; logout revokes every session', { timeout: 240_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  const [imap3, smtp3] = await freePorts(2);
  const daemons = stopDaemonsThenRemoveHome(t, home);
  const dataDir = join(home, '.local', 'share', 'sealmail');

  daemons.push(await startCli(env));
  const alice = readCliConfig(env).accounts[0]!;
  assert.ok(alice.passphraseFile);
  const oldPassphrase = readFileSync(alice.passphraseFile, 'utf8').trim();
  const newPassphrase = 'a brand new passphrase for alice';
  const newFile = join(home, 'new-passphrase');
  const oldFile = join(home, 'old-passphrase');
  writeFileSync(newFile, newPassphrase + '\n', { mode: 0o600 });
  writeFileSync(oldFile, oldPassphrase + '\n', { mode: 0o600 });

  // A second device set up before the change (its passphrase file still holds the old one).
  const { env: env2, providerUrl } = await secondDeviceEnv({ home, env, ports });
  const device2File = join(home, 'device2-passphrase');
  writeFileSync(device2File, oldPassphrase + '\n', { mode: 0o600 });
  const setup2 = runCli(env2, ['account', 'login', '--provider', providerUrl, alice.address, '--passphrase-file', device2File]);
  assert.equal(setup2.status, 0, setup2.stderr);
  const dataDir2 = env2.SEALMAIL_DATA_DIR!;
  const device2Before = readSession(dataDir2, alice.address);

  // A crash right after the provider switched the login password, before the
  // new wrapping was stored here: simulated by making only the provider step.
  const cached = readSession(dataDir, alice.address);
  const [oldLogin, newLogin] = await Promise.all([providerPassword(alice.address, oldPassphrase), providerPassword(alice.address, newPassphrase)]);
  const providerStep = await fetch(new URL('api/password', providerUrl), {
    method: 'POST',
    headers: { authorization: `Bearer ${cached.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ address: alice.address, password: oldLogin, newPassword: newLogin }),
  });
  assert.equal(providerStep.status, 200);
  // The old passphrase still works on this device: the store opens with it,
  // and the cached session (kept by the change) stands in for the refused login.
  assert.equal(await daemons.pop()!.stop(), 0);
  daemons.push(await startCli(env));
  assert.equal(readSession(dataDir, alice.address).token, cached.token);
  // Running the change again finishes it.
  const change = runCli(env, ['passphrase', 'change', '--account', alice.address, '--current-file', oldFile, '--new-file', newFile]);
  assert.equal(change.status, 0, change.stderr);
  assert.match(change.stdout, /passphrase changed \(this device and the provider\)/);
  const before = readSession(dataDir, alice.address);
  assert.equal(await gatewayStatus(before), 200, 'the session that made the change stays valid');
  assert.equal(await gatewayStatus(device2Before), 401, "the other device's session ended");

  // Restart with the new passphrase and no cached session: the daemon must log in.
  assert.equal(await daemons.pop()!.stop(), 0);
  writeFileSync(alice.passphraseFile, newPassphrase + '\n', { mode: 0o600 });
  rmSync(join(accountDir(dataDir, alice.address), 'session.json'));
  daemons.push(await startCli(env));
  const afterRestart = readSession(dataDir, alice.address);
  assert.notEqual(afterRestart.token, before.token, 'a fresh login, not a cached session');

  // A new device: the old passphrase is refused in one sentence, the new one restores.
  const env3 = { ...env2, SEALMAIL_CONFIG_DIR: join(home, 'device3/config'), SEALMAIL_DATA_DIR: join(home, 'device3/data'), SEALMAIL_IMAP_PORT: String(imap3), SEALMAIL_SMTP_PORT: String(smtp3) };
  const withOld = runCli(env3, ['account', 'login', '--provider', providerUrl, alice.address, '--passphrase-file', oldFile]);
  assert.notEqual(withOld.status, 0);
  assert.match(withOld.stderr, new RegExp(`wrong passphrase for ${alice.address.replace('.', '\\.')}`));
  assert.doesNotMatch(withOld.stderr, /\n\s+at /, 'no stack trace');
  const withNew = runCli(env3, ['account', 'login', '--provider', providerUrl, alice.address, '--passphrase-file', newFile]);
  assert.equal(withNew.status, 0, withNew.stderr);
  assert.match(withNew.stdout, /restored \d+ documents from the provider/);

  // The device set up before the change starts with the new passphrase (it takes the provider's new wrapping).
  writeFileSync(device2File, newPassphrase + '\n', { mode: 0o600 });
  const device2 = await startCli(env2);
  daemons.push(device2);
  assert.notEqual(readSession(dataDir2, alice.address).token, device2Before.token);
  assert.equal(await device2.stop(), 0);
  daemons.pop();

  // Logout on the new device revokes every session of the account at the provider.
  const dataDir3 = env3.SEALMAIL_DATA_DIR;
  const device3 = readSession(dataDir3, alice.address);
  const device2After = readSession(dataDir2, alice.address);
  for (const s of [device3, device2After, afterRestart]) assert.equal(await gatewayStatus(s), 200);
  const logout = runCli(env3, ['account', 'logout', alice.address]);
  assert.equal(logout.status, 0, logout.stderr);
  assert.match(logout.stdout, /revoked \d+ session\(s\)/);
  assert.equal(existsSync(join(accountDir(dataDir3, alice.address), 'session.json')), false, 'the cached session file is deleted');
  assert.equal(await gatewayStatus(device3), 401, "the logging-out device's token is refused");
  assert.equal(await gatewayStatus(device2After), 401, "the second device's token is revoked too");
  assert.equal(await gatewayStatus(afterRestart), 401, "the first device's token is revoked too");
});
