// Blob garbage collection on one device (rules: src/mail/store/blob-gc.ts):
// over real Soledad (encrypted PouchDB on LevelDB) the bytes of a message
// expunged everywhere go after the grace period, chunks and all; a blob still
// referred to by another entry stays and is served byte-exact over IMAP; the
// "content already stored" shortcut of APPEND cancels a pending deletion and
// writes the blob again; a device not seen for longer than the stale limit
// does not block collection, one seen recently does until it acks; an entry
// that arrives late for collected content gets a clear NO over IMAP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { Soledad } from '../../src/soledad/index.js';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { openMailStore, type OpenedMailStore } from '../../src/mail/store/index.js';
import { DocumentMailStore } from '../../src/mail/store/mail-store.js';
import { BlobGc, mailDeviceId } from '../../src/mail/store/blob-gc.js';
import { BLOB_GC_MERGE_RULES, GC_DOC, contentNeededAgain, type CheckinDoc, type GcIntentDoc } from '../../src/mail/store/blob-gc-docs.js';
import { startImapServer } from '../../src/imap/server.js';
import { DOC, newEntry } from '../../src/mail/store/documents.js';
import { RawConnection } from '../imap/harness.js';
import { Scratch, TEST_KDF, chunkDocs } from '../soledad/helpers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const small = (n: number) => Buffer.from(`From: a@example.org\r\nSubject: small ${n}\r\nMessage-ID: <s${n}@example.org>\r\n\r\nbody ${n}\r\n`);
/** Several blob chunks (just under 128 KiB each) by default. */
const big = (n: number, size = 800_000) => Buffer.concat([Buffer.from(`From: a@example.org\r\nSubject: big ${n}\r\n\r\n`), Buffer.alloc(size, `line ${n}\r\n`)]);

function gcOf(mail: OpenedMailStore, device: string, extra: Partial<ConstructorParameters<typeof BlobGc>[0]> = {}): BlobGc {
  assert.ok(mail instanceof DocumentMailStore);
  return new BlobGc({ docs: mail.docs, entries: () => mail.index.entries.values(), device, graceMs: 200, storedLatelyMs: 0, ...extra });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Bytes of all files under a directory. */
function diskBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += statSync(join(e.parentPath ?? e.path, e.name)).size;
  }
  return total;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


test('over Soledad: an expunged-only blob is freed after the grace period; a shared one stays and IMAP serves it', async () => {
  const s = new Scratch();
  try {
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF }));
    const mail = s.defer(await openMailStore({ docs: sol, local: sol.local, warmSummaries: false }));
    const gc = gcOf(mail, await mailDeviceId(sol.local));
    s.defer({ close: () => gc.stop() });
    const gone = big(1);
    const shared = small(2);
    await mail.append('INBOX', gone);
    await mail.append('INBOX', shared);
    await mail.copy('INBOX', [2], 'Archive');
    const chunksBefore = await chunkDocs(sol);
    assert.ok(chunksBefore >= 6, `the big message has chunk documents (${chunksBefore})`);
    await mail.expunge('INBOX', [1, 2]);
    // Stores written before kept a message's structure in a document of its own.
    await sol.put(DOC.structure, sha(gone), await mail.structure(sha(gone)));

    const first = await gc.run();
    assert.equal(first.proposed, 1, 'only the blob no live entry refers to is proposed');
    assert.equal(first.deleted, 0, 'nothing goes before the grace period');
    assert.equal(await sol.hasBlob(sha(gone)), true);
    await sleep(250);
    const second = await gc.run();
    assert.equal(second.deleted, 1);
    assert.equal(second.freedBytes, gone.length);
    assert.deepEqual([gc.stats.freedBlobs, gc.stats.freedBytes], [1, gone.length]);
    assert.equal(await sol.hasBlob(sha(gone)), false);
    assert.equal(await chunkDocs(sol), 0, 'its chunk documents are gone too');
    assert.equal(await sol.get(DOC.structure, sha(gone)), null, 'and an old store\'s separate structure document');
    assert.equal((await sol.get<GcIntentDoc>(GC_DOC.intent, sha(gone)))?.state, 'deleted');
    assert.equal(await sol.hasBlob(sha(shared)), true);
    assert.equal((await gc.run()).deleted, 0, 'a later pass has nothing to do');

    // The remaining message, over a real IMAP server.
    const server = await startImapServer({ authenticate: async () => mail, failedLoginDelayMs: 10 });
    s.defer(server);
    const client = new ImapFlow({ host: '127.0.0.1', port: server.port, secure: false, auth: { user: 'u', pass: 'p' }, logger: false });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.mailboxOpen('Archive');
      const msg = await client.fetchOne('1', { source: true, size: true, envelope: true });
      assert.ok(msg && msg.source?.equals(shared), 'BODY[] byte-exact');
      assert.equal(msg && msg.envelope?.subject, 'small 2');
    } finally {
      await client.logout().catch(() => undefined);
    }
  } finally {
    await s.cleanup();
  }
});

test('over Soledad: APPEND of content whose deletion is pending (blob still here) cancels it and writes the blob again', async () => {
  const s = new Scratch();
  try {
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF }));
    const mail = s.defer(await openMailStore({ docs: sol, local: sol.local, warmSummaries: false }));
    const device = await mailDeviceId(sol.local);
    const gc = gcOf(mail, device);
    s.defer({ close: () => gc.stop() });
    const raw = big(3);
    await mail.append('INBOX', raw);
    await mail.expunge('INBOX', [1]);
    assert.equal((await gc.run()).proposed, 1);
    const proposed = (await sol.get<GcIntentDoc>(GC_DOC.intent, sha(raw)))!;
    assert.equal(proposed.write, await sol.blobVersion(sha(raw)));

    // The blob is here: without the hook, storeContent would only reuse it.
    await mail.append('INBOX', raw);
    assert.notEqual(await sol.blobVersion(sha(raw)), proposed.write, 'the blob was written again');
    assert.equal((await sol.get<CheckinDoc>(GC_DOC.checkin, device))?.cancels[sha(raw)], proposed.round, 'the cancel is in the check-in');
    await sleep(250);
    const after = await gc.run();
    assert.equal(after.deleted, 0);
    assert.equal((await sol.get<GcIntentDoc>(GC_DOC.intent, sha(raw)))?.state, 'cancelled');
    const { messages } = await mail.messages('INBOX');
    assert.equal(messages.length, 1);
    assert.ok((await readAll(mail.read(messages[0]!.hash))).equals(raw));
  } finally {
    await s.cleanup();
  }
});

test('a deletion waits for every active device to ack; a device not seen for the stale limit does not block it', async () => {
  const docs = new MemoryDocumentStore();
  for (const [type, rule] of Object.entries(BLOB_GC_MERGE_RULES)) docs.registerMerge(type, rule.merge as never);
  const mail = await openMailStore({ docs, local: new MemoryDocumentStore(), warmSummaries: false });
  let now = Date.parse('2026-01-01T00:00:00Z');
  const DAY = 24 * 3600_000;
  const gc = gcOf(mail, 'dev-a', { graceMs: DAY, staleMs: 30 * DAY, now: () => now });
  try {
    const raw = small(4);
    await mail.append('INBOX', raw);
    await mail.expunge('INBOX', [1]);
    // Device B checked in a day ago; device C, 40 days ago.
    await docs.put<CheckinDoc>(GC_DOC.checkin, 'dev-b', { v: 1, n: 1, seenAt: now - DAY, acks: {}, cancels: {} });
    await docs.put<CheckinDoc>(GC_DOC.checkin, 'dev-c', { v: 1, n: 1, seenAt: now - 40 * DAY, acks: {}, cancels: {} });
    assert.equal((await gc.run()).proposed, 1);
    now += DAY + 1;
    assert.equal((await gc.run()).deleted, 0, 'B has not acked');
    assert.equal(await docs.hasBlob(sha(raw)), true);
    const round = (await docs.get<GcIntentDoc>(GC_DOC.intent, sha(raw)))!.round;
    await docs.put<CheckinDoc>(GC_DOC.checkin, 'dev-b', { v: 1, n: 2, seenAt: now, acks: { [sha(raw)]: round - 1 }, cancels: {} });
    assert.equal((await gc.run()).deleted, 0, 'an ack of another round does not count');
    await docs.put<CheckinDoc>(GC_DOC.checkin, 'dev-b', { v: 1, n: 3, seenAt: now, acks: { [sha(raw)]: round }, cancels: {} });
    assert.equal((await gc.run()).deleted, 1, 'B acked; C is stale');
    assert.equal(await docs.hasBlob(sha(raw)), false);
  } finally {
    await gc.stop();
    await mail.close();
  }
});

test('a device with a live entry cancels a round another device proposed; a cancelled round is proposed again only after the grace period', async () => {
  const docs = new MemoryDocumentStore();
  for (const [type, rule] of Object.entries(BLOB_GC_MERGE_RULES)) docs.registerMerge(type, rule.merge as never);
  // Two devices over one store: A expunged its copy; B still has a live one (an entry A has not seen).
  const mail = await openMailStore({ docs, local: new MemoryDocumentStore(), warmSummaries: false });
  let now = 1_000_000;
  const a = gcOf(mail, 'dev-a', { graceMs: 1000, now: () => now });
  const raw = small(5);
  await mail.append('INBOX', raw);
  await mail.expunge('INBOX', [1]);
  let bLive = true;
  const b = new BlobGc({ docs, device: 'dev-b', graceMs: 1000, storedLatelyMs: 0, now: () => now, entries: () => (bLive ? [{ hash: sha(raw), size: raw.length, expunged: null }] : []) });
  try {
    await b.run(); // B checks in
    assert.equal((await a.run()).proposed, 1);
    const round1 = (await docs.get<GcIntentDoc>(GC_DOC.intent, sha(raw)))!.round;
    await b.run();
    assert.equal((await docs.get<CheckinDoc>(GC_DOC.checkin, 'dev-b'))?.cancels[sha(raw)], round1, 'B cancels: it has a live entry');
    now += 2000;
    const r = await a.run();
    assert.equal(r.deleted, 0);
    assert.equal((await docs.get<GcIntentDoc>(GC_DOC.intent, sha(raw)))?.state, 'cancelled');
    bLive = false; // B's entry is expunged too
    await b.run();
    assert.equal((await a.run()).proposed, 0, 'not again within the grace period after the cancel');
    now += 1001;
    assert.equal((await a.run()).proposed, 1, 'a new round');
    const round2 = (await docs.get<GcIntentDoc>(GC_DOC.intent, sha(raw)))!.round;
    assert.ok(round2 > round1);
    await b.run();
    assert.equal((await docs.get<CheckinDoc>(GC_DOC.checkin, 'dev-b'))?.acks[sha(raw)], round2);
    now += 1001;
    assert.equal((await a.run()).deleted, 1);
    assert.equal(await docs.hasBlob(sha(raw)), false);
    now += 1001;
    await a.run();
    assert.equal(await docs.get(GC_DOC.intent, sha(raw)), null, 'a settled intent is removed a grace period later');
    assert.equal((await a.run()).proposed, 0, 'and not proposed again: the blob is gone');
  } finally {
    await a.stop();
    await b.stop();
    await mail.close();
  }
});

test('an entry arriving late for content already collected: IMAP answers NO [NONEXISTENT] for it and serves the rest', async () => {
  const s = new Scratch();
  try {
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF }));
    const mail = s.defer(await openMailStore({ docs: sol, local: sol.local, warmSummaries: false }));
    assert.ok(mail instanceof DocumentMailStore);
    const gc = gcOf(mail, await mailDeviceId(sol.local), { graceMs: 0 });
    s.defer({ close: () => gc.stop() });
    const gone = big(6, 200_000); // under the IMAP server's inline limit (256 KiB), two chunks
    // Above the IMAP server's inline limit (256 KiB): its BODY[] is streamed, so the missing content must be found before the literal is announced.
    const goneStreamed = Buffer.concat([big(8), Buffer.alloc(200_000, 'more\r\n')]);
    const kept = small(7);
    await mail.append('INBOX', kept);
    await mail.append('Archive', gone);
    await mail.append('Archive', goneStreamed);
    await mail.expunge('Archive', [1, 2]);
    await gc.run();
    assert.equal((await gc.run()).deleted, 2);
    // As if synced from a device that had been away longer than the stale limit.
    const archive = (await mail.listMailboxes()).find((m) => m.name === 'Archive')!;
    await sol.put(DOC.entry, 'late-entry', newEntry(archive.id, sha(gone), gone.length, Date.now(), [], mail.clock.now()));
    await sol.put(DOC.entry, 'late-entry-2', newEntry(archive.id, sha(goneStreamed), goneStreamed.length, Date.now(), [], mail.clock.now()));
    for (let i = 0; i < 200 && (await mail.status('Archive')).messages < 2; i++) await sleep(10);

    const server = await startImapServer({ authenticate: async () => mail, failedLoginDelayMs: 10 });
    s.defer(server);
    const c = await RawConnection.open(server.port);
    try {
      await c.login();
      assert.match(await c.command('a', 'SELECT Archive'), /^\* 2 EXISTS/m);
      assert.match(await c.command('b', 'FETCH 1 (BODY[])'), /^b NO \[NONEXISTENT\] /m);
      assert.match(await c.command('b2', 'FETCH 2 (BODY[])'), /^b2 NO \[NONEXISTENT\] /m);
      assert.match(await c.command('c', 'NOOP'), /^c OK/m, 'the connection goes on');
      assert.match(await c.command('d', 'SELECT INBOX'), /^d OK/m);
      const body = await c.command('e', 'FETCH 1 (BODY[])');
      assert.ok(body.includes(kept.toString('latin1')), 'the other message is served');
      assert.match(body, /^e OK/m);
    } finally {
      c.close();
    }
  } finally {
    await s.cleanup();
  }
});

test('over Soledad: once 16 MB or more were freed, the store is compacted and the disk space comes back', async () => {
  const s = new Scratch();
  try {
    const dataDir = s.dir();
    const sol = s.defer(await Soledad.create({ dataDir, passphrase: 'pw', kdf: TEST_KDF }));
    const mail = s.defer(await openMailStore({ docs: sol, local: sol.local, warmSummaries: false }));
    let compactions = 0;
    const storage = { bytes: () => sol.storageBytes(), compact: () => (compactions++, sol.compactStorage()) };
    const gc = gcOf(mail, await mailDeviceId(sol.local), { graceMs: 0, storage });
    s.defer({ close: () => gc.stop() });
    const small1 = big(8);
    await mail.append('INBOX', small1);
    await mail.expunge('INBOX', [1]);
    await gc.run();
    assert.equal((await gc.run()).deleted, 1);
    assert.equal(compactions, 0, '800 kB freed: no compaction');
    // 20 MB of incompressible text (base64 of random bytes).
    const { randomBytes } = await import('node:crypto');
    const huge = Buffer.concat([Buffer.from('From: a@example.org\r\nSubject: huge\r\n\r\n'), Buffer.from(randomBytes(15_000_000).toString('base64'))]);
    await mail.append('INBOX', huge);
    await mail.expunge('INBOX', [2]);
    // Before: the files on disk, since LevelDB's estimate leaves out the write
    // buffer and a memtable still being flushed (up to ~8 MB under load).
    // After: the estimate of the compacted database; files an open reader
    // still holds stay on disk until LevelDB's next clean-up.
    const before = diskBytes(dataDir);
    assert.ok(before > 15e6, `the store holds the message (${before} bytes on disk)`);
    await gc.run();
    assert.equal((await gc.run()).deleted, 1);
    assert.equal(compactions, 1);
    const after = await sol.storageBytes();
    assert.ok(after < before - 14e6, `the disk space came back: ${before} -> ${after} bytes`);
  } finally {
    await s.cleanup();
  }
});

test('over Soledad: a blob no entry refers to at all is found by the sweep and freed once it was seen so for a grace period', async () => {
  const s = new Scratch();
  try {
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF }));
    const mail = s.defer(await openMailStore({ docs: sol, local: sol.local, warmSummaries: false }));
    const gc = gcOf(mail, await mailDeviceId(sol.local), { sweepEveryMs: 0 });
    s.defer({ close: () => gc.stop() });
    const live = small(9);
    await mail.append('INBOX', live);
    // Content stored without its entry (a crash in between), and a spool blob (not content).
    const orphan = big(10);
    await sol.putBlob(sha(orphan), orphan);
    await sol.putBlob('spool-left-behind', Buffer.from('x'));
    assert.equal((await gc.run()).proposed, 0, 'seen as an orphan for the first time');
    await sleep(250);
    assert.equal((await gc.run()).proposed, 1, 'still an orphan a grace period later');
    await sleep(250);
    assert.equal((await gc.run()).deleted, 1);
    assert.equal(await sol.hasBlob(sha(orphan)), false);
    assert.equal(await sol.hasBlob(sha(live)), true);
    assert.equal(await sol.hasBlob('spool-left-behind'), true);
  } finally {
    await s.cleanup();
  }
});

test('content this device stored lately counts as live even before its entry is in the index: its deletion is cancelled, not acked', async () => {
  const docs = new MemoryDocumentStore();
  for (const [type, rule] of Object.entries(BLOB_GC_MERGE_RULES)) docs.registerMerge(type, rule.merge as never);
  const mail = await openMailStore({ docs, local: new MemoryDocumentStore(), warmSummaries: false });
  const raw = small(11);
  await mail.append('INBOX', raw);
  await mail.expunge('INBOX', [1]);
  // B stores the same content (the blob is here: reused) before A's proposal reaches it; B's entry is not written yet.
  assert.equal(await contentNeededAgain(docs, sha(raw)), false);
  const a = gcOf(mail, 'dev-a', { graceMs: 0 });
  const bEntries: Array<{ hash: string; size: number; expunged: string | null }> = [];
  const b = new BlobGc({ docs, device: 'dev-b', graceMs: 0, entries: () => bEntries });
  try {
    await b.run(); // B checks in
    assert.equal((await a.run()).proposed, 1);
    const round = (await docs.get<GcIntentDoc>(GC_DOC.intent, sha(raw)))!.round;
    await b.run();
    const checkin = (await docs.get<CheckinDoc>(GC_DOC.checkin, 'dev-b'))!;
    assert.equal(checkin.acks[sha(raw)], undefined, 'B does not ack');
    assert.equal(checkin.cancels[sha(raw)], round, 'B cancels');
    assert.equal((await a.run()).deleted, 0);
    assert.equal(await docs.hasBlob(sha(raw)), true);
  } finally {
    await a.stop();
    await b.stop();
    await mail.close();
  }
});
