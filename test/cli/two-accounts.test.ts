// Two accounts on the quickstart's embedded provider, through the real CLI:
// the demo account writes to alice through the SMTP gateway (the key comes
// from the provider's directory, so the message is encrypted) and alice
// reads it over IMAP (python3 imaplib) decrypted and verified; the
// provider's files and database documents hold no plaintext of it. Mail to an
// external address without a key leaves signed-only through the provider's
// smarthost (a local sink); with always-encrypt the gateway refuses it at RCPT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import PouchDB from 'pouchdb';
import { startSink, SINK_TOKEN, SINK_USER } from '../smtp/sink.js';
import { cliEnv, IMAP_FIND_MESSAGE, pythonImap, readCliConfig, runCli, secondDeviceEnv, sendThroughGateway, smtpDialogue, startCli, type FoundMessage } from '../support/cli.js';

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else yield p;
  }
}

/** Every document (with attachments, decoded) of every database of the provider's embedded CouchDB. */
async function providerDocuments(couchDir: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const name of readdirSync(couchDir)) {
    if (!statSync(join(couchDir, name)).isDirectory()) continue;
    const db = new PouchDB(join(couchDir, name));
    try {
      const all = await db.allDocs({ include_docs: true, attachments: true } as PouchDB.Core.AllDocsWithKeysOptions);
      for (const row of all.rows) {
        const doc = row.doc as unknown as { _attachments?: Record<string, { data: string }> } | undefined;
        out.push(Buffer.from(JSON.stringify(doc)));
        for (const a of Object.values(doc?._attachments ?? {})) out.push(Buffer.from(a.data, 'base64'));
      }
    } finally {
      await db.close();
    }
  }
  return out;
}

test('demo → alice encrypted via the provider directory; external: signed-only at the smarthost, refused with always-encrypt', { timeout: 120_000 }, async (t) => {
  const sink = await startSink();
  const { home, env, ports } = await cliEnv();
  t.after(async () => {
    await sink.close();
    rmSync(home, { recursive: true, force: true });
  });
  env.SEALMAIL_PROVIDER_RELAY = `smtp://${encodeURIComponent(SINK_USER)}:${SINK_TOKEN}@127.0.0.1:${sink.port}`;
  const daemon = await startCli(env);
  const marker = randomBytes(6).toString('hex');
  const subject = `subject-marker-${marker}`;
  const body = `body-marker-${marker} the eagle lands at noon`;
  try {
    const [alice, demo] = readCliConfig(env).accounts;
    assert.ok(alice && demo);

    // The demo account writes to alice: it looked up alice's key in the provider's directory when it sent
    // the welcome message, and has had no other source for it (alice never wrote to demo).
    const sent = await sendThroughGateway(ports.smtp, demo.address, demo.localPassword, { to: alice.address, subject, text: body });
    assert.deepEqual(sent.accepted, [alice.address]);

    const seen = pythonImap<FoundMessage>(IMAP_FIND_MESSAGE, { PORT: ports.imap, USER_ADDR: alice.address, PASSWORD: alice.localPassword, SUBJECT: subject });
    assert.equal(seen.count, 1, "the message reached alice's INBOX once");
    assert.match(seen.raw!, /X-Sealmail-Encryption: decrypted/, 'it was encrypted by the sender');
    assert.ok(seen.raw!.includes(body), 'the body reads back in plaintext through IMAP');

    const keys = runCli(env, ['keys', 'list', '--account', demo.address]);
    assert.equal(keys.status, 0, keys.stderr);
    assert.match(keys.stdout, new RegExp(`^${alice.address.replace('.', '\\.')}\\s+[0-9A-F]{40}\\s+\\S+ \\(provider\\)`, 'm'), "demo's key for alice came from the provider directory");
    const demoFpr = new RegExp(`^${demo.address.replace('.', '\\.')}\\s+([0-9A-F]{40})\\s+\\S+ \\(own\\)`, 'm').exec(keys.stdout)?.[1];
    assert.ok(demoFpr, keys.stdout);
    assert.match(seen.raw!, new RegExp(`X-Sealmail-Signature: valid; fpr=${demoFpr}`), "signed with demo's own key");

    // External, no key anywhere (.invalid never resolves): signed-only, through the smarthost.
    const external = `carol-${marker}@external.invalid`;
    const out = await sendThroughGateway(ports.smtp, alice.address, alice.localPassword, { to: external, subject: `${subject}-ext`, text: body });
    assert.deepEqual(out.accepted, [external]);
    const deadline = Date.now() + 40_000;
    while (!sink.received.some((r) => r.to.includes(external)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const relayed = sink.received.find((r) => r.to.includes(external));
    assert.ok(relayed, 'the message reached the smarthost');
    const raw = relayed.raw.toString('utf8');
    assert.match(raw, /Content-Type: multipart\/signed;[\s\S]*protocol="application\/pgp-signature"/i);
    assert.ok(raw.includes(body), 'signed-only: the body is readable by a recipient without sealmail');
    assert.doesNotMatch(raw, /BEGIN PGP MESSAGE/);
    assert.equal(relayed.from, alice.address);

    // always-encrypt, switched on in the running daemon: the recipient is refused at RCPT.
    const set = runCli(env, ['account', 'set', alice.address, '--always-encrypt']);
    assert.equal(set.status, 0, set.stderr);
    assert.match(set.stdout, /always-encrypt on \(the running daemon uses it now\)/);
    assert.equal(readCliConfig(env).accounts[0]!.alwaysEncrypt, true, 'saved in the configuration');
    const replies = await smtpDialogue(ports.smtp, alice.address, alice.localPassword, [`MAIL FROM:<${alice.address}>`, `RCPT TO:<${external}>`, `RCPT TO:<${demo.address}>`]);
    assert.match(replies[2]!, /^235 /, 'authenticated');
    assert.match(replies[3]!, /^250 /);
    assert.match(replies[4]!, new RegExp(`^550 5\\.7\\.1 <${external}>: no usable OpenPGP key .*always-encrypt is on for your account`));
    assert.match(replies[5]!, /^250 /, 'a recipient with a key is still accepted');

    // A second device logging in with a wrong passphrase: one sentence, non-zero exit, nothing configured.
    const device2 = await secondDeviceEnv({ home, env, ports });
    const wrong = join(home, 'wrong-passphrase');
    writeFileSync(wrong, 'not-the-passphrase\n', { mode: 0o600 });
    const refused = runCli(device2.env, ['account', 'login', '--provider', device2.providerUrl, alice.address, '--passphrase-file', wrong]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /^sealmail: wrong passphrase for alice@sealmail\.localhost \(or no such account at http:\/\/127\.0\.0\.1:\d+\/\)\n$/, `one sentence: ${refused.stderr}`);
    assert.ok(!existsSync(join(device2.env.SEALMAIL_CONFIG_DIR!, 'config.json')), 'nothing configured');
  } finally {
    assert.equal(await daemon.stop(), 0, 'graceful shutdown');
  }

  // Neither the provider's files nor its database documents hold the plaintext.
  const providerDir = join(home, '.local/share/sealmail/provider');
  const needles = [subject, `body-marker-${marker}`];
  for (const f of files(providerDir)) {
    const data = readFileSync(f);
    for (const n of needles) assert.ok(!data.includes(n), `"${n}" found in ${f}`);
  }
  const docs = await providerDocuments(join(providerDir, 'couch'));
  assert.ok(docs.length > 10, `the provider's databases were read (${docs.length} documents and attachments)`);
  for (const d of docs) for (const n of needles) assert.ok(!d.includes(n), `"${n}" found in a provider document`);
});
