// The systemd credential ($CREDENTIALS_DIRECTORY/passphrase, what
// `install-service --passphrase-file` hands the service) is one passphrase
// for the whole daemon: it must only stand in for accounts without a
// passphrase file of their own. Before, it was tried first, so on a
// quickstart (two accounts, two passphrase files) the demo account got the
// wrong passphrase and the start failed with exit 78.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { passphraseSource } from '../../src/daemon/passphrase.js';
import type { AccountConfig } from '../../src/daemon/config.js';
import { cliEnv, runCli } from '../support/cli.js';

function account(address: string, passphraseFile?: string): AccountConfig {
  return { address, providerUrl: 'http://127.0.0.1:1/', localPassword: 'local-password', alwaysEncrypt: false, ...(passphraseFile ? { passphraseFile } : {}) };
}

function privateFile(path: string, text: string): string {
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

test('the credential is the passphrase of accounts without their own file; an account with one keeps it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-credential-'));
  const saved = process.env.CREDENTIALS_DIRECTORY;
  t.after(() => {
    if (saved === undefined) delete process.env.CREDENTIALS_DIRECTORY;
    else process.env.CREDENTIALS_DIRECTORY = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  const credentials = join(dir, 'credentials');
  mkdirSync(credentials);
  privateFile(join(credentials, 'passphrase'), 'from the credential\n');
  process.env.CREDENTIALS_DIRECTORY = credentials;
  const alice = account('alice@sealmail.localhost', privateFile(join(dir, 'alice'), 'alice own\n'));
  const demo = account('demo@sealmail.localhost', privateFile(join(dir, 'demo'), 'demo own\n'));
  const plain = account('bob@example.org');

  const source = passphraseSource();
  assert.equal(await source(alice), 'alice own');
  assert.equal(await source(demo), 'demo own', 'the second quickstart account is not handed the credential');
  assert.equal(await source(plain), 'from the credential');

  // An explicit --passphrase-file still comes first.
  const explicit = passphraseSource(privateFile(join(dir, 'explicit'), 'explicit\n'));
  assert.equal(await explicit(demo), 'explicit');
  assert.equal(await explicit(plain), 'explicit');

  // Without a credential, an account without a file is asked (no terminal here: a clear refusal, exit 78).
  delete process.env.CREDENTIALS_DIRECTORY;
  await assert.rejects(source(plain), (err: Error & { exitCode?: number }) => /no passphrase/.test(err.message) && err.exitCode === 78);
});

test('install-service --passphrase-file says which accounts the credential serves', async (t) => {
  const { home, env } = await cliEnv();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  env.SEALMAIL_NO_SYSTEMCTL = '1';
  const configDir = join(home, '.config', 'sealmail');
  mkdirSync(configDir, { recursive: true });
  const credential = privateFile(join(home, 'service-passphrase'), 'secret\n');
  const own = privateFile(join(home, 'alice-passphrase'), 'alice\n');
  const writeConfig = (accounts: AccountConfig[]): void => writeFileSync(join(configDir, 'config.json'), JSON.stringify({ version: 1, accounts }), { mode: 0o600 });

  writeConfig([account('alice@example.org', own), account('bob@example.org')]);
  const mixed = runCli(env, ['install-service', '--no-enable', '--passphrase-file', credential]);
  assert.equal(mixed.status, 0, mixed.stderr);
  assert.match(mixed.stdout, /passphrase of bob@example\.org \(accounts with a passphrase file of their own keep reading it\)/);
  assert.doesNotMatch(mixed.stdout, /passphrase of [^\n]*alice@/);

  writeConfig([account('alice@example.org', own)]);
  const unused = runCli(env, ['install-service', '--no-enable', '--passphrase-file', credential]);
  assert.equal(unused.status, 0, unused.stderr);
  assert.match(unused.stdout, /every account reads its own passphrase file, so the service does not use this one/);
});
