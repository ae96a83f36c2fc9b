// A store written before blobs got their head document (metadata + first
// chunk in one document, the structure inside it) must still open and serve
// every message byte-exact: a user upgrading loses nothing, on this device or
// restoring on a new one. The fixture is the replicated database written by
// that version (test/mail/fixtures/make-old-layout-store.ts, run at 3f7ddb4):
// blob metadata documents, 32 KiB chunk documents, separate structure documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import PouchDB from 'pouchdb';
import { Soledad } from '../../src/soledad/index.js';
import { openMailStore, type OpenedMailStore } from '../../src/mail/store/index.js';
import { Scratch, collect, createDb } from '../soledad/helpers.js';

interface Fixture {
  passphrase: string;
  messages: Array<{ mailbox: string; sha256: string; size: number; flags: string[] }>;
  docs: Array<Record<string, unknown>>;
}

const fixture = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, 'fixtures', 'old-layout-store.json'), 'utf8')) as Fixture;

async function bytesOf(mail: OpenedMailStore, hash: string, start?: number, end?: number): Promise<Buffer> {
  return Buffer.concat((await collect(mail.read(hash, start, end))) as Buffer[]);
}

/** Every fixture message is listed with its flags, has its structure, and reads back byte-exact (whole and in ranges across the old 32 KiB chunks). */
async function assertServesAll(mail: OpenedMailStore): Promise<void> {
  for (const m of fixture.messages) {
    const listed = (await mail.messages(m.mailbox)).messages.find((x) => x.hash === m.sha256);
    assert.ok(listed, `message ${m.sha256} listed in ${m.mailbox}`);
    assert.equal(listed.size, m.size);
    assert.deepEqual([...listed.flags].sort(), [...m.flags].sort());
    assert.equal((await mail.structure(m.sha256)).size, m.size);
    const all = await bytesOf(mail, m.sha256);
    assert.equal(all.length, m.size);
    assert.equal(createHash('sha256').update(all).digest('hex'), m.sha256, 'byte-exact');
    for (const [start, end] of [[0, 100], [32_000, 33_500], [m.size - 10, m.size]]) {
      if (start! >= m.size) continue;
      assert.ok((await bytesOf(mail, m.sha256, start, end)).equals(all.subarray(start, end)), `range ${start}-${end}`);
    }
  }
}

test('the old layout on this device: opens after the upgrade, serves every message, and takes new mail beside it', async () => {
  const s = new Scratch();
  try {
    const dataDir = s.dir();
    // The device's replicated database as the old version left it.
    const db = new PouchDB(path.join(dataDir, 'main'), { adapter: 'leveldb' } as PouchDB.Configuration.DatabaseConfiguration);
    await db.bulkDocs(fixture.docs as never, { new_edits: false });
    await db.close();

    const sol = s.defer(await Soledad.open({ dataDir, passphrase: fixture.passphrase }));
    const mail = await openMailStore({ docs: sol, local: sol.local });
    await assertServesAll(mail);

    // The same bytes again (deduplicated against the old blob) and new mail (new layout), side by side.
    const old = fixture.messages[1]!;
    const again = await bytesOf(mail, old.sha256);
    await mail.append('Drafts', again);
    const fresh = Buffer.from('From: new@example.net\r\nSubject: after the upgrade\r\n\r\n' + 'new layout '.repeat(5000) + '\r\n');
    await mail.append('Drafts', fresh);
    const drafts = (await mail.messages('Drafts')).messages;
    assert.equal(drafts.length, 2);
    for (const [m, raw] of [[drafts[0]!, again], [drafts[1]!, fresh]] as const) {
      assert.ok((await bytesOf(mail, m.hash)).equals(raw));
      assert.equal((await mail.structure(m.hash)).size, raw.length);
    }
    await mail.close();
    await sol.close();

    // And after a restart.
    const reopened = s.defer(await Soledad.open({ dataDir, passphrase: fixture.passphrase }));
    const mail2 = await openMailStore({ docs: reopened, local: reopened.local });
    await assertServesAll(mail2);
    assert.equal((await mail2.messages('Drafts')).messages.length, 2);
    await mail2.close();
  } finally {
    await s.cleanup();
  }
});

test('the old layout at the provider: a new device restores it and serves every message', async () => {
  const s = new Scratch();
  try {
    const couch = await s.couch();
    const url = await createDb(couch, 'alice');
    const res = await fetch(`${url}/_bulk_docs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ docs: fixture.docs, new_edits: false }),
    });
    assert.equal(res.status, 201);

    const sol = s.defer(await Soledad.restore({ dataDir: s.dir(), passphrase: fixture.passphrase, remote: { url }, liveSync: false }));
    const mail = await openMailStore({ docs: sol, local: sol.local });
    await assertServesAll(mail);
    await mail.close();
  } finally {
    await s.cleanup();
  }
});
