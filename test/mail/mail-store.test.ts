import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryMailStore } from '../support/memory-mailstore.js';
import { MailStoreError, type MailboxChange } from '../../src/mail/mailstore.js';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { openMailStore } from '../../src/mail/store/index.js';
import type { DocumentStore } from '../../src/soledad/types.js';

function message(n: number, body = 'Hello there.\r\n'): Buffer {
  return Buffer.from(
    `From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: test ${n}\r\n` +
      `Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${n}@example.org>\r\n\r\n${body}`,
  );
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const code = (c: MailStoreError['code']) => (err: unknown) => err instanceof MailStoreError && err.code === c;

test('default mailboxes exist with special-use, sorted by name', async () => {
  const s = await createMemoryMailStore();
  const list = await s.listMailboxes();
  assert.deepEqual(
    list.map((m) => [m.name, m.specialUse]),
    [['Archive', '\\Archive'], ['Drafts', '\\Drafts'], ['INBOX', null], ['Junk', '\\Junk'], ['Sent', '\\Sent'], ['Trash', '\\Trash']],
  );
  for (const m of list) {
    assert.equal(m.uidNext, 1);
    assert.ok(m.uidValidity > 0);
    assert.ok(m.subscribed);
  }
  await s.close();
});

test('append then read is byte-exact, from a Buffer and from a chunked stream', async () => {
  const s = await createMemoryMailStore();
  // Bare LF, 8-bit header bytes, no final newline: stored as is.
  const odd = Buffer.concat([Buffer.from('Subject: caf'), Buffer.from([0xe9, 0x0a]), Buffer.from('\nbody without CRLF')]);
  const r1 = await s.append('INBOX', odd, { flags: ['\\Seen'], internalDate: 1_700_000_000_000 });
  const big = Buffer.concat([message(2), Buffer.alloc(3 * 1024 * 1024, 'x')]);
  async function* chunks() {
    for (let o = 0; o < big.length; o += 100_000) yield big.subarray(o, o + 100_000);
  }
  const r2 = await s.append('inbox', chunks());
  assert.deepEqual([r1.uid, r2.uid], [1, 2]);
  const { info, messages } = await s.messages('INBOX');
  assert.equal(info.uidNext, 3);
  assert.equal(messages.length, 2);
  assert.deepEqual(messages[0].flags, ['\\Seen']);
  assert.equal(messages[0].internalDate, 1_700_000_000_000);
  assert.equal(messages[0].size, odd.length);
  assert.equal(messages[1].size, big.length);
  assert.ok((await readAll(s.read(messages[0].hash))).equals(odd));
  assert.ok((await readAll(s.read(messages[1].hash))).equals(big));
  assert.ok((await readAll(s.read(messages[1].hash, 10, 5000))).equals(big.subarray(10, 5000)));
  assert.equal((await s.structure(messages[1].hash)).size, big.length);
  // The spooled temporary blob is gone: one blob per message.
  assert.equal(s.docs.blobCount(), 2);
  await s.close();
});

test('same message in two mailboxes or appended twice is stored once', async () => {
  const s = await createMemoryMailStore();
  const m = message(1);
  const a = await s.append('INBOX', m);
  const b = await s.append('INBOX', m);
  const c = await s.append('Archive', m);
  assert.deepEqual([a.uid, b.uid, c.uid], [1, 2, 1]);
  const copied = await s.copy('INBOX', [1, 2], 'Trash');
  assert.deepEqual(copied.mapping, [[1, 1], [2, 2]]);
  assert.equal(s.docs.blobCount(), 1);
  assert.equal((await s.status('INBOX')).messages, 2);
  await s.close();
});

test('deliver is idempotent per deliveryId', async () => {
  const s = await createMemoryMailStore();
  const first = await s.deliver('INBOX', message(1), { deliveryId: 'incoming-1' });
  const again = await s.deliver('INBOX', message(1), { deliveryId: 'incoming-1' });
  const other = await s.deliver('INBOX', message(1), { deliveryId: 'incoming-2' });
  assert.equal(first.duplicate, false);
  assert.equal(again.duplicate, true);
  assert.equal(again.uid, first.uid);
  assert.equal(other.uid, first.uid + 1);
  assert.equal((await s.status('INBOX')).messages, 2);
  await s.close();
});

test('deliver after a crash between entry write and index: same entry, no second copy', async () => {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const s1 = await openMailStore({ docs, local });
  await s1.deliver('INBOX', message(1), { deliveryId: 'incoming-7' });
  await s1.close();
  const s2 = await openMailStore({ docs, local });
  const again = await s2.deliver('INBOX', message(1), { deliveryId: 'incoming-7' });
  assert.equal(again.duplicate, true);
  assert.equal(again.uid, 1);
  assert.equal((await s2.status('INBOX')).messages, 1);
  await s2.close();
  await docs.close();
  await local.close();
});

test('deliver and deliverMany keep one set of entry rules: each finds the other’s deliveries; a missing mailbox or a failed source stores nothing', async () => {
  const s = await createMemoryMailStore();
  const [one] = await s.deliverMany('INBOX', [{ raw: message(1), deliveryId: 'd-1' }]);
  const again = await s.deliver('INBOX', message(1), { deliveryId: 'd-1' });
  assert.ok(one && !(one instanceof Error));
  assert.deepEqual(again, { ...one, duplicate: true });
  // A streamed source over the in-memory limit (spooled), then found again by a batch.
  const big = Buffer.concat([message(2), Buffer.alloc(2 * 1024 * 1024, 'y')]);
  async function* chunks(raw: Buffer, failAt = Infinity) {
    for (let o = 0; o < raw.length; o += 256 * 1024) {
      if (o >= failAt) throw new Error('client went away');
      yield raw.subarray(o, o + 256 * 1024);
    }
  }
  const streamed = await s.deliver('INBOX', chunks(big), { deliveryId: 'd-2', flags: ['\\Flagged'], internalDate: 1_700_000_000_000 });
  assert.deepEqual(streamed, { uidValidity: one.uidValidity, uid: one.uid + 1, duplicate: false });
  const batch = await s.deliverMany('INBOX', [{ raw: big, deliveryId: 'd-2' }, { raw: message(3), deliveryId: 'd-3' }]);
  assert.deepEqual(batch, [{ ...streamed, duplicate: true }, { uidValidity: one.uidValidity, uid: one.uid + 2, duplicate: false }]);
  const { messages } = await s.messages('INBOX');
  assert.deepEqual(messages.map((m) => m.size), [message(1).length, big.length, message(3).length]);
  assert.deepEqual(messages[1]!.flags, ['\\Flagged']);
  assert.equal(messages[1]!.internalDate, 1_700_000_000_000);
  assert.ok((await readAll(s.read(messages[1]!.hash))).equals(big));
  // RFC 3501 6.3.11: NO [TRYCREATE] before the source is read.
  let pulled = false;
  async function* watched() {
    pulled = true;
    yield message(4);
  }
  await assert.rejects(s.deliver('Missing', watched(), { deliveryId: 'd-4' }), code('TRYCREATE'));
  assert.equal(pulled, false);
  // A source that fails half-way (after spooling began): no entry, no blob left behind.
  const blobs = s.docs.blobCount();
  await assert.rejects(s.deliver('INBOX', chunks(Buffer.concat([message(5), Buffer.alloc(3 * 1024 * 1024)]), 2 * 1024 * 1024), { deliveryId: 'd-5' }), /client went away/);
  assert.equal((await s.status('INBOX')).messages, 3);
  assert.equal(s.docs.blobCount(), blobs);
  await s.close();
});

test('flags: set/add/remove, case-insensitive system flags, UNCHANGEDSINCE, modseq grows', async () => {
  const s = await createMemoryMailStore();
  for (let i = 1; i <= 3; i++) await s.append('INBOX', message(i));
  const before = (await s.status('INBOX')).highestModseq;
  const r = await s.storeFlags('INBOX', [1, 2, 99], 'add', ['\\seen', '$Label1']);
  assert.deepEqual(r.updated.map((m) => [m.uid, m.flags]), [[1, ['\\Seen', '$Label1']], [2, ['\\Seen', '$Label1']]]);
  assert.ok(r.updated[0].modseq > before);
  const m1 = r.updated[0].modseq;
  const r2 = await s.storeFlags('INBOX', [1, 2, 3], 'remove', ['$Label1'], { unchangedSince: m1 });
  assert.deepEqual(r2.modified, [2]);
  assert.deepEqual(r2.updated.map((m) => [m.uid, m.flags]), [[1, ['\\Seen']]]);
  const r3 = await s.storeFlags('INBOX', [3], 'set', ['\\Flagged', '\\Recent']);
  assert.deepEqual(r3.updated[0].flags, ['\\Flagged']);
  const none = await s.storeFlags('INBOX', [3], 'add', ['\\Flagged']);
  assert.equal(none.updated.length, 0);
  const st = await s.status('INBOX');
  assert.equal(st.unseen, 1);
  assert.equal(st.highestModseq, r3.updated[0].modseq);
  await s.close();
});

test('expunge and move; UIDs are never reused', async () => {
  const s = await createMemoryMailStore();
  for (let i = 1; i <= 4; i++) await s.append('INBOX', message(i));
  assert.deepEqual(await s.expunge('INBOX', [2, 4, 8]), [2, 4]);
  const mv = await s.move('INBOX', [3], 'Archive');
  assert.deepEqual(mv.mapping, [[3, 1]]);
  const next = await s.append('INBOX', message(5));
  assert.equal(next.uid, 5);
  assert.deepEqual((await s.messages('INBOX')).messages.map((m) => m.uid), [1, 5]);
  assert.deepEqual((await s.messages('Archive')).messages.map((m) => m.uid), [1]);
  await s.close();
});

test('UIDs, UIDVALIDITY and MODSEQ persist across reopen; expunged UIDs stay spent', async () => {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const s1 = await openMailStore({ docs, local });
  for (let i = 1; i <= 3; i++) await s1.append('INBOX', message(i));
  await s1.storeFlags('INBOX', [1], 'add', ['\\Seen']);
  await s1.expunge('INBOX', [3]);
  const before = await s1.status('INBOX');
  await s1.close();
  const s2 = await openMailStore({ docs, local });
  const after = await s2.status('INBOX');
  assert.equal(after.uidValidity, before.uidValidity);
  assert.equal(after.uidNext, 4);
  assert.equal(after.highestModseq, before.highestModseq);
  assert.deepEqual((await s2.messages('INBOX')).messages.map((m) => [m.uid, m.flags]), [[1, ['\\Seen']], [2, []]]);
  assert.equal((await s2.append('INBOX', message(4))).uid, 4);
  // Another device (its own local store) over the same documents numbers the live messages from 1.
  const s3 = await openMailStore({ docs, local: new MemoryDocumentStore() });
  assert.deepEqual((await s3.messages('INBOX')).messages.map((m) => m.uid), [1, 2, 3]);
  await s3.close();
  await s2.close();
  await docs.close();
  await local.close();
});

test('mailboxes: create with hierarchy, rename with inferiors, INBOX rename, delete, subscribe', async () => {
  const s = await createMemoryMailStore();
  await s.createMailbox('Work/Projects/');
  await assert.rejects(s.createMailbox('Work'), code('ALREADYEXISTS'));
  await assert.rejects(s.createMailbox('a*b'), code('CANNOT'));
  await s.append('Work/Projects', message(1));
  const oldValidity = (await s.status('Work/Projects')).uidValidity;
  await s.renameMailbox('Work', 'Job');
  let names = (await s.listMailboxes()).map((m) => m.name);
  assert.ok(names.includes('Job') && names.includes('Job/Projects') && !names.includes('Work'));
  assert.equal((await s.status('Job/Projects')).messages, 1);
  assert.equal((await s.status('Job/Projects')).uidValidity, oldValidity);
  await assert.rejects(s.renameMailbox('Job', 'Sent'), code('ALREADYEXISTS'));
  await assert.rejects(s.renameMailbox('Nope', 'X'), code('NONEXISTENT'));
  await assert.rejects(s.renameMailbox('Job', 'Job/Inner'), code('CANNOT'));

  await s.append('INBOX', message(2));
  await s.createMailbox('INBOX/Sub');
  await s.renameMailbox('inbox', 'Old');
  assert.equal((await s.status('INBOX')).messages, 0);
  assert.equal((await s.status('Old')).messages, 1);
  assert.equal((await s.status('INBOX/Sub')).messages, 0);

  await assert.rejects(s.deleteMailbox('INBOX'), code('CANNOT'));
  await s.deleteMailbox('Old');
  await assert.rejects(s.status('Old'), code('NONEXISTENT'));
  await s.createMailbox('Old');
  assert.equal((await s.status('Old')).messages, 0);
  await assert.rejects(s.append('Missing', message(3)), code('TRYCREATE'));
  await assert.rejects(s.copy('INBOX', [1], 'Missing'), code('TRYCREATE'));

  await s.setSubscribed('Job', false);
  assert.equal((await s.listMailboxes()).find((m) => m.name === 'Job')!.subscribed, false);
  await s.setSubscribed('Gone', false);
  await assert.rejects(s.setSubscribed('Gone', true), code('NONEXISTENT'));
  names = (await s.listMailboxes()).map((m) => m.name);
  assert.deepEqual(names, [...names].sort());
  await s.close();
});

test('subscribe: exists, flags, expunge and mailboxes events, in order', async () => {
  const s = await createMemoryMailStore();
  const seen: MailboxChange[] = [];
  const off = s.subscribe((c) => seen.push(c));
  const inbox = (await s.status('INBOX')).id;
  await s.append('INBOX', message(1));
  await s.append('INBOX', message(2));
  await s.storeFlags('INBOX', [2], 'add', ['\\Flagged']);
  await s.expunge('INBOX', [1]);
  await s.createMailbox('New');
  await new Promise((r) => setTimeout(r, 20)); // let the feed echo our own writes (must be no-ops)
  off();
  await s.append('INBOX', message(3));
  const brief = seen.map((c) =>
    c.kind === 'mailboxes' ? ['mailboxes'] : c.kind === 'expunge' ? ['expunge', c.mailboxId, c.uid] : [c.kind, c.mailboxId, c.message.uid, c.message.flags],
  );
  assert.deepEqual(brief, [
    ['exists', inbox, 1, []],
    ['exists', inbox, 2, []],
    ['flags', inbox, 2, ['\\Flagged']],
    ['expunge', inbox, 1],
    ['mailboxes'],
  ]);
  await s.close();
});

test('a change written by another device into the synced store reaches the index and subscribers', async () => {
  const docs = new MemoryDocumentStore();
  const a = await openMailStore({ docs, local: new MemoryDocumentStore() });
  const b = await openMailStore({ docs, local: new MemoryDocumentStore() });
  await a.append('INBOX', message(1));
  const got = new Promise<MailboxChange>((resolve) => {
    const off = b.subscribe((c) => {
      if (c.kind === 'flags') {
        off();
        resolve(c);
      }
    });
  });
  for (let i = 0; i < 50 && (await b.status('INBOX')).messages === 0; i++) await new Promise((r) => setTimeout(r, 5));
  await a.storeFlags('INBOX', [1], 'add', ['\\Seen']);
  const change = await got;
  assert.equal(change.kind === 'flags' && change.message.flags.join(), '\\Seen');
  assert.equal((await b.status('INBOX')).unseen, 0);
  await a.close();
  await b.close();
  await docs.close();
});

test('concurrent appends of the same bytes: one blob, distinct UIDs in call order', async () => {
  const s = await createMemoryMailStore();
  const m = message(1, 'x'.repeat(10_000));
  const results = await Promise.all([1, 2, 3, 4].map(() => s.append('INBOX', m)));
  assert.deepEqual(results.map((r) => r.uid).sort(), [1, 2, 3, 4]);
  assert.equal(s.docs.blobCount(), 1);
  await s.close();
});

test('the same name created on two devices before they sync shows once, the same one on both', async () => {
  const docs = new MemoryDocumentStore();
  const a = await openMailStore({ docs, local: new MemoryDocumentStore() });
  const b = await openMailStore({ docs, local: new MemoryDocumentStore() });
  // Written straight into the shared store, as two offline devices would have.
  const doc = (at: string) => ({ v: 1, name: 'Projects', nameAt: at, subscribed: true, subscribedAt: at, specialUse: null, created: 1, deleted: null });
  await docs.put('mailbox', 'mb-zzz', doc('1764000000000.000000.aa'));
  await docs.put('mailbox', 'mb-aaa', doc('1764000000001.000000.bb'));
  for (const s of [a, b]) {
    for (let i = 0; i < 50 && (await s.listMailboxes()).every((m) => m.name !== 'Projects'); i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 10));
    const projects = (await s.listMailboxes()).filter((m) => m.name === 'Projects');
    assert.deepEqual(projects.map((m) => m.id), ['mb-aaa']);
  }
  await a.close();
  await b.close();
  await docs.close();
});

test('a burst of changes from another device: every message announced once, UIDs in order', async () => {
  const docs = new MemoryDocumentStore();
  const a = await openMailStore({ docs, local: new MemoryDocumentStore() });
  const b = await openMailStore({ docs, local: new MemoryDocumentStore() });
  const uids: number[] = [];
  b.subscribe((c) => {
    if (c.kind === 'exists') uids.push(c.message.uid);
  });
  await Promise.all(Array.from({ length: 150 }, (_, i) => a.append('Archive', message(i))));
  for (let i = 0; i < 200 && uids.length < 150; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(uids, Array.from({ length: 150 }, (_, i) => i + 1));
  assert.equal((await b.status('Archive')).messages, 150);
  await a.close();
  await b.close();
  await docs.close();
});

test('a write never drops a change that reached the store before the index saw it', async () => {
  const docs = new MemoryDocumentStore();
  // Device A sees the shared store through a changes feed we can hold back.
  let held: Promise<void> | null = null;
  let release = () => {};
  const gated: DocumentStore = {
    put: docs.put.bind(docs),
    get: docs.get.bind(docs),
    delete: docs.delete.bind(docs),
    bulkPut: docs.bulkPut.bind(docs),
    query: docs.query.bind(docs),
    putBlob: docs.putBlob.bind(docs),
    blobMeta: docs.blobMeta.bind(docs),
    hasBlob: docs.hasBlob.bind(docs),
    blobSize: docs.blobSize.bind(docs),
    readBlob: docs.readBlob.bind(docs),
    deleteBlob: docs.deleteBlob.bind(docs),
    changes: (opts) =>
      (async function* () {
        for await (const c of docs.changes(opts)) {
          while (held) await held;
          yield c;
        }
      })() as AsyncIterable<never>,
  };
  const a = await openMailStore({ docs: gated, local: new MemoryDocumentStore() });
  const b = await openMailStore({ docs, local: new MemoryDocumentStore() });
  await a.append('INBOX', message(1));
  for (let i = 0; i < 100 && (await b.status('INBOX')).messages === 0; i++) await new Promise((r) => setTimeout(r, 5));
  held = new Promise((r) => (release = r));
  await b.storeFlags('INBOX', [1], 'add', ['\\Flagged']);
  // A has not seen B's change yet, and writes the same entry.
  assert.deepEqual((await a.messages('INBOX')).messages[0].flags, []);
  const fromA = await a.storeFlags('INBOX', [1], 'add', ['\\Seen']);
  assert.deepEqual(fromA.updated[0].flags, ['\\Seen', '\\Flagged']);
  held = null;
  release();
  for (const s of [a, b]) {
    for (let i = 0; i < 100 && (await s.messages('INBOX')).messages[0].flags.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual((await s.messages('INBOX')).messages[0].flags, ['\\Seen', '\\Flagged']);
  }
  await a.close();
  await b.close();
  await docs.close();
});
