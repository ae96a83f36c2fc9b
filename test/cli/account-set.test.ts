// `sealmail account set` through the real CLI, against a running daemon and
// a stopped one: always-encrypt and the HKP keyserver reach the running
// daemon's SMTP gateway at once (seen at RCPT: a recipient only a local HKP
// server has a key for is refused, then accepted once the keyserver is set,
// and the keyserver is no longer asked once it is removed); bad input is one
// sentence and changes nothing; a passphrase file set here is what the next
// start uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFileSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair } from '../../src/keymanager/keys.js';
import { cliEnv, readCliConfig, runCli, smtpDialogue, startCli, stopDaemonsThenRemoveHome } from '../support/cli.js';

const BOB = 'bob@elsewhere.invalid';
const CAROL = 'carol@elsewhere.invalid';

test('account set: keyserver and always-encrypt reach the running daemon; bad input changes nothing; a passphrase file counts at the next start', { timeout: 240_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  const daemons = stopDaemonsThenRemoveHome(t, home);
  const bob = await generateKeyPair({ address: BOB, lifetimeSeconds: 0 });
  const asked: string[] = [];
  const hkp = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const search = url.searchParams.get('search') ?? '';
    asked.push(search);
    if (url.pathname === '/pks/lookup' && url.searchParams.get('op') === 'get' && search === BOB) {
      res.writeHead(200, { 'content-type': 'application/pgp-keys' }).end(bob.publicArmored);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => hkp.listen(0, '127.0.0.1', r));
  t.after(() => hkp.close());
  const keyserver = `http://127.0.0.1:${(hkp.address() as AddressInfo).port}`;

  daemons.push(await startCli(env));
  const alice = readCliConfig(env).accounts[0]!;
  const configFile = join(home, '.config', 'sealmail', 'config.json');
  const rcpt = async (to: string): Promise<string> => {
    const replies = await smtpDialogue(ports.smtp, alice.address, alice.localPassword, [`MAIL FROM:<${alice.address}>`, `RCPT TO:<${to}>`, 'RSET']);
    assert.match(replies[2]!, /^235 /, 'authenticated');
    return replies[4]!;
  };

  // Bad input: one sentence, non-zero exit, the configuration as it was.
  const before = readFileSync(configFile, 'utf8');
  const loose = join(home, 'loose-passphrase');
  writeFileSync(loose, 'a passphrase\n', { mode: 0o644 });
  chmodSync(loose, 0o644);
  for (const [args, message] of [
    [['nobody@sealmail.localhost', '--always-encrypt'], /^sealmail: no account nobody@sealmail\.localhost is configured\n$/],
    [[alice.address, '--keyserver', 'ftp://keys.example.org', '--always-encrypt'], /^sealmail: --keyserver must be an http\(s\) URL .*not ftp:\/\/keys\.example\.org\n$/],
    [[alice.address, '--keyserver', 'https://keys.example.org/?x=1'], /^sealmail: --keyserver must be an http\(s\) URL/],
    [[alice.address], /^sealmail: nothing to change: give /],
    [[alice.address, '--passphrase-file', loose], /^sealmail: the passphrase file .* is readable by others \(mode 644\); run: chmod 600 /],
    [[alice.address, '--passphrase-file', join(home, 'missing')], /^sealmail: the passphrase file .*missing does not exist\n$/],
  ] as const) {
    const r = runCli(env, ['account', 'set', ...args]);
    assert.notEqual(r.status, 0, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, message);
  }
  assert.equal(readFileSync(configFile, 'utf8'), before, 'bad input changed nothing');

  // always-encrypt on: bob has no key anywhere the daemon looks yet.
  const on = runCli(env, ['account', 'set', alice.address, '--always-encrypt']);
  assert.equal(on.status, 0, on.stderr);
  assert.match(on.stdout, /always-encrypt on \(the running daemon uses it now\)/);
  assert.match(await rcpt(BOB), new RegExp(`^550 5\\.7\\.1 <${BOB}>: no usable OpenPGP key`));
  assert.deepEqual(asked, [], 'no keyserver is asked yet');

  // The keyserver, set in the running daemon: bob's key is found there (the earlier miss is not remembered).
  const set = runCli(env, ['account', 'set', alice.address, '--keyserver', `${keyserver}/`]);
  assert.equal(set.status, 0, set.stderr);
  assert.equal(set.stdout.trim(), `${alice.address}: keyserver ${keyserver} (the running daemon uses it now)`);
  assert.equal(readCliConfig(env).accounts[0]!.alwaysEncrypt, true);
  assert.equal((JSON.parse(readFileSync(configFile, 'utf8')) as { accounts: Array<{ keyserver?: string }> }).accounts[0]!.keyserver, keyserver);
  assert.match(await rcpt(BOB), /^250 /, 'accepted: the key came from the keyserver');
  assert.deepEqual(asked, [BOB]);
  const list = runCli(env, ['account', 'list']);
  assert.match(list.stdout, new RegExp(`^${alice.address.replace('.', '\\.')}  provider \\S+  always-encrypt  keyserver ${keyserver.replace(/\./g, '\\.')}$`, 'm'));

  // Removed: the keyserver is no longer asked.
  const off = runCli(env, ['account', 'set', alice.address, '--no-keyserver']);
  assert.equal(off.status, 0, off.stderr);
  assert.match(off.stdout, /no keyserver \(the running daemon uses it now\)/);
  assert.match(await rcpt(CAROL), new RegExp(`^550 5\\.7\\.1 <${CAROL}>: no usable OpenPGP key`));
  assert.deepEqual(asked, [BOB], 'carol was not looked up at the removed keyserver');
  assert.equal((JSON.parse(readFileSync(configFile, 'utf8')) as { accounts: Array<{ keyserver?: string }> }).accounts[0]!.keyserver, undefined);

  // With the daemon stopped: saved for the next start; hkps:// is taken as https://.
  assert.equal(await daemons[0]!.stop(), 0);
  const passFile = join(home, 'alice-passphrase');
  copyFileSync(alice.passphraseFile!, passFile);
  chmodSync(passFile, 0o600);
  const stopped = runCli(env, ['account', 'set', alice.address, '--keyserver', 'hkps://keys.example.org', '--passphrase-file', passFile, '--no-always-encrypt']);
  assert.equal(stopped.status, 0, stopped.stderr);
  assert.equal(stopped.stdout.trim(), `${alice.address}: always-encrypt off, keyserver https://keys.example.org, passphrase file ${passFile} (used from the next start)`);
  const saved = JSON.parse(readFileSync(configFile, 'utf8')) as { accounts: Array<{ keyserver?: string; passphraseFile?: string; alwaysEncrypt: boolean }> };
  assert.deepEqual([saved.accounts[0]!.keyserver, saved.accounts[0]!.passphraseFile, saved.accounts[0]!.alwaysEncrypt], ['https://keys.example.org', passFile, false]);
  // The next start reads alice's passphrase from the new file (the quickstart's is gone).
  writeFileSync(alice.passphraseFile!, 'not the passphrase\n', { mode: 0o600 });
  daemons.push(await startCli(env));
  assert.match(readCliConfig(env).accounts[0]!.passphraseFile!, /alice-passphrase$/);
});
