import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Soledad, WrongPassphraseError } from '../../src/soledad/index.js';
import { Scratch, TEST_KDF, collect, createDb, startAuthProxy } from './helpers.js';

test('new device restores everything from URL + bearer token + passphrase, through an authenticating gateway', async () => {
  const s = new Scratch();
  try {
    const couch = await s.couch();
    await createDb(couch, 'alice');
    const proxy = s.defer(await startAuthProxy(couch.url, 'Bearer tok-123'));
    const remote = { url: proxy.url + 'alice', headers: { Authorization: 'Bearer tok-123' } };

    const first = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pass phrase', kdf: TEST_KDF, remote, liveSync: false }));
    const docs = Array.from({ length: 120 }, (_, i) => ({ type: 'entry', id: `e${i}`, content: { n: i } }));
    await first.bulkPut(docs);
    await first.put('mailbox', 'INBOX', { name: 'INBOX' });
    const blob = Buffer.from(Array.from({ length: 600_000 }, (_, i) => i % 251));
    await first.putBlob('raw-1', blob);
    await first.syncOnce();

    // Creating a second account over the same remote database is refused.
    await assert.rejects(
      Soledad.create({ dataDir: s.dir(), passphrase: 'other', kdf: TEST_KDF, remote, liveSync: false }),
      /already holds an account/,
    );

    // Without the token the gateway refuses, and restore says so.
    await assert.rejects(Soledad.restore({ dataDir: s.dir(), passphrase: 'pass phrase', remote: { url: remote.url }, liveSync: false }));
    assert.ok(proxy.seen.denied > 0);

    // Wrong passphrase: a clear error, nothing written in the new data dir.
    const wrongDir = s.dir();
    await assert.rejects(Soledad.restore({ dataDir: wrongDir, passphrase: 'guess', remote, liveSync: false }), WrongPassphraseError);
    assert.deepEqual(fs.readdirSync(wrongDir), []);

    const dir = s.dir();
    const second = s.defer(await Soledad.restore({ dataDir: dir, passphrase: 'pass phrase', remote, liveSync: false }));
    const entries = await collect(second.query<{ n: number }>('entry'));
    assert.equal(entries.length, 120);
    assert.deepEqual(entries.map((e) => e.content.n).sort((x, y) => x - y), docs.map((d) => d.content.n));
    assert.deepEqual(await second.get('mailbox', 'INBOX'), { name: 'INBOX' });
    assert.ok(Buffer.concat(await collect(second.readBlob('raw-1'))).equals(blob));

    // The restored device is a full peer: it can open again offline with the passphrase.
    await second.close();
    const reopened = s.defer(await Soledad.open({ dataDir: dir, passphrase: 'pass phrase' }));
    assert.deepEqual(await reopened.get('entry', 'e7'), { n: 7 });
  } finally {
    await s.cleanup();
  }
});
