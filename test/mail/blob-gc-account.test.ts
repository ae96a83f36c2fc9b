// Blob garbage collection as the daemon runs it: an account opened the way
// the daemon opens it (provider, gateway sync, mail store) runs the collector
// by itself, and the content of a message expunged over IMAP is freed after
// the grace period; the other message is still served byte-exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ImapFlow } from 'imapflow';
import { openAccount } from '../../src/daemon/account.js';
import { startImapServer } from '../../src/imap/server.js';
import { startTestProvider } from '../provider/helpers.js';
import { LOGIN_COST, TEST_KDF } from '../support/fetch-account.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const message = (n: number, size: number) =>
  Buffer.concat([Buffer.from(`From: a@example.org\r\nSubject: m${n}\r\n\r\n`), Buffer.alloc(size, `body ${n}\r\n`)]);

test('an account runs blob garbage collection by itself: an expunged message\'s content is freed, the other one served', async () => {
  const provider = await startTestProvider();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sm-gc-'));
  const address = 'alice@example.org';
  const config = { address, providerUrl: provider.httpUrl, localPassword: 'pw', alwaysEncrypt: false };
  const account = await openAccount({
    config,
    dataDir,
    passphrase: 'a test passphrase',
    create: 'new',
    kdf: TEST_KDF,
    loginCost: LOGIN_COST,
    blobGc: { graceMs: 300, firstRunMs: 100, intervalMs: 200, storedLatelyMs: 0 },
  });
  const imap = await startImapServer({ port: 0, failedLoginDelayMs: 0, authenticate: async () => account.mail });
  const client = new ImapFlow({ host: '127.0.0.1', port: imap.port, secure: false, auth: { user: address, pass: 'pw' }, logger: false });
  client.on('error', () => undefined);
  try {
    const gone = message(1, 300_000);
    const kept = message(2, 1000);
    await client.connect();
    await client.append('INBOX', gone);
    await client.append('INBOX', kept);
    await client.mailboxOpen('INBOX');
    await client.messageDelete('1', { uid: true }); // \Deleted + EXPUNGE
    const until = Date.now() + 30_000;
    while (account.blobGc.stats.freedBlobs < 1) {
      assert.ok(Date.now() < until, `not freed in time: ${JSON.stringify(account.blobGc.stats)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(account.blobGc.stats.freedBytes, gone.length);
    assert.equal(await account.soledad.hasBlob(sha(gone)), false);
    const msg = await client.fetchOne('*', { source: true });
    assert.ok(msg && msg.source?.equals(kept), 'the other message, byte-exact');
  } finally {
    await client.logout().catch(() => undefined);
    await imap.close();
    await account.close();
    await provider.dispose();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
