// The quickstart as a new user meets it: `sealmail start` in an empty HOME
// brings up an embedded provider, two accounts and a welcome message that
// travels the whole journey; python3's imaplib finds it decrypted and with a
// valid signature; a restart keeps UIDs and UIDVALIDITY and downloads nothing
// again; the provider's disk holds no plaintext of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cliEnv, pythonImap, runCli, startCli } from '../support/cli.js';

const WAIT_FOR_WELCOME = `
import imaplib, json, os, time
m = imaplib.IMAP4('127.0.0.1', int(os.environ['PORT']))
m.login(os.environ['USER_ADDR'], os.environ['PASSWORD'])
deadline = time.time() + 45
while True:
    typ, data = m.select('INBOX', readonly=True)
    count = int(data[0])
    if count >= 1 or time.time() > deadline:
        break
    time.sleep(0.3)
uidvalidity = m.response('UIDVALIDITY')[1][0].decode()
typ, data = m.uid('FETCH', '1:*', '(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT X-SEALMAIL-ENCRYPTION X-SEALMAIL-SIGNATURE)])')
header = data[0][1].decode() if count else ''
uid = data[0][0].decode().split('UID ')[1].split(' ')[0] if count else None
m.logout()
print(json.dumps({'count': count, 'uidvalidity': uidvalidity, 'uid': uid, 'header': header}))
`;

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else yield p;
  }
}

test('quickstart from an empty HOME: welcome mail decrypted and verified over IMAP; restart keeps UIDs', { timeout: 240_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const first = await startCli(env);
  let config: { accounts: Array<{ address: string; localPassword: string }> };
  try {
    assert.match(first.stdout(), /Username:\s+alice@sealmail\.localhost/);
    config = JSON.parse(readFileSync(join(home, '.config/sealmail/config.json'), 'utf8'));
    const alice = config.accounts[0]!;
    // The printed password is the configured one, and it works.
    assert.ok(first.stdout().includes(alice.localPassword));
    const seen = pythonImap<{ count: number; uidvalidity: string; uid: string; header: string }>(WAIT_FOR_WELCOME, {
      PORT: ports.imap,
      USER_ADDR: alice.address,
      PASSWORD: alice.localPassword,
    });
    assert.equal(seen.count, 1, 'exactly one welcome message');
    assert.match(seen.header, /Subject: Welcome to sealmail/);
    assert.match(seen.header, /X-Sealmail-Encryption: decrypted/);
    assert.match(seen.header, /X-Sealmail-Signature: valid; fpr=[0-9A-F]{40}/);

    // The daemon rewrites its status file every 2 s: poll until it reflects the delivery.
    let status = runCli(env, ['status']);
    for (let i = 0; i < 20 && !/1 processed/.test(status.stdout); i++) {
      await new Promise((r) => setTimeout(r, 500));
      status = runCli(env, ['status']);
    }
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /alice@sealmail\.localhost/);
    assert.match(status.stdout, /1 processed/);

    assert.equal(await first.stop(), 0, 'graceful shutdown exits 0');

    // No plaintext of the message anywhere in the provider's files.
    for (const f of files(join(home, '.local/share/sealmail/provider'))) {
      assert.ok(!readFileSync(f).includes('the whole way'), `plaintext found in ${f}`);
    }

    const second = await startCli(env);
    try {
      assert.doesNotMatch(second.stdout(), /first start/);
      // A later start's output (not a terminal: as under systemd, into the journal) leaves the password out.
      assert.match(second.stdout(), /Username:\s+alice@sealmail\.localhost\n\s+Password:\s+not printed here.*`sealmail settings` shows it/);
      assert.ok(!second.stdout().includes(config.accounts[0]!.localPassword), 'the password was printed again');
      const again = pythonImap<{ count: number; uidvalidity: string; uid: string }>(WAIT_FOR_WELCOME, {
        PORT: ports.imap,
        USER_ADDR: alice.address,
        PASSWORD: alice.localPassword,
      });
      assert.equal(again.count, 1, 'nothing downloaded twice');
      assert.equal(again.uidvalidity, seen.uidvalidity);
      assert.equal(again.uid, seen.uid);
      // A second daemon on the same data refuses to start, with one sentence.
      const clash = runCli(env, ['start']);
      assert.notEqual(clash.status, 0);
      assert.match(clash.stderr, /another sealmail daemon is already running/);
      assert.doesNotMatch(clash.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      await second.stop();
    }
  } finally {
    await first.stop();
  }
});

test('bad input gives one sentence and a non-zero exit: broken config, unknown command', async (t) => {
  const { home, env } = await cliEnv();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(join(home, '.config/sealmail'), { recursive: true });
  writeFileSync(join(home, '.config/sealmail/config.json'), '{ not json');
  const r = runCli(env, ['start']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /^sealmail: the configuration file .* is not valid JSON/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const s = runCli(env, ['status']);
  assert.notEqual(s.status, 0);
});
