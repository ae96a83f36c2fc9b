// `sealmail passphrase change` through the real CLI: the provider login
// (derived from the passphrase) follows the new passphrase, the re-wrapped
// storage secret reaches the provider (a new device restores with the new
// passphrase, the old one is refused in one sentence), and
// `sealmail account logout` revokes every session of the account.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accountDir } from '../../src/daemon/account.js';
import { cliEnv, readCliConfig, runCli, secondDeviceEnv, startCli, type RunningDaemon } from '../support/cli.js';

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

test('passphrase change: restart and a new device use the new passphrase; the old one is refused; logout revokes every session', { timeout: 240_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const daemons: RunningDaemon[] = [];
  t.after(async () => {
    for (const d of daemons) await d.stop();
  });
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

  const change = runCli(env, ['passphrase', 'change', '--account', alice.address, '--current-file', oldFile, '--new-file', newFile]);
  assert.equal(change.status, 0, change.stderr);
  assert.match(change.stdout, /passphrase changed/);
  const before = readSession(dataDir, alice.address);
  assert.equal(await gatewayStatus(before), 200, 'the session that made the change stays valid');

  // Restart with the new passphrase and no cached session: the daemon must log in.
  assert.equal(await daemons.pop()!.stop(), 0);
  writeFileSync(alice.passphraseFile, newPassphrase + '\n', { mode: 0o600 });
  rmSync(join(accountDir(dataDir, alice.address), 'session.json'));
  daemons.push(await startCli(env));
  const afterRestart = readSession(dataDir, alice.address);
  assert.notEqual(afterRestart.token, before.token, 'a fresh login, not a cached session');

  // A new device: the old passphrase is refused in one sentence, the new one restores.
  const { env: env2, providerUrl } = await secondDeviceEnv({ home, env, ports });
  const withOld = runCli(env2, ['account', 'login', '--provider', providerUrl, alice.address, '--passphrase-file', oldFile]);
  assert.notEqual(withOld.status, 0);
  assert.match(withOld.stderr, new RegExp(`wrong passphrase for ${alice.address.replace('.', '\\.')}`));
  assert.doesNotMatch(withOld.stderr, /\n\s+at /, 'no stack trace');
  const withNew = runCli(env2, ['account', 'login', '--provider', providerUrl, alice.address, '--passphrase-file', newFile]);
  assert.equal(withNew.status, 0, withNew.stderr);
  assert.match(withNew.stdout, /restored \d+ documents from the provider/);

  // Logout on the second device revokes every session of the account at the provider.
  const dataDir2 = env2.SEALMAIL_DATA_DIR!;
  const device2 = readSession(dataDir2, alice.address);
  assert.equal(await gatewayStatus(device2), 200);
  const logout = runCli(env2, ['account', 'logout', alice.address]);
  assert.equal(logout.status, 0, logout.stderr);
  assert.match(logout.stdout, /revoked/);
  assert.equal(existsSync(join(accountDir(dataDir2, alice.address), 'session.json')), false, 'the cached session file is deleted');
  assert.equal(await gatewayStatus(device2), 401, "the second device's old token is refused");
  assert.equal(await gatewayStatus(afterRestart), 401, "the first device's token is revoked too");
});
