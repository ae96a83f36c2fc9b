import { test } from 'node:test';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import type { ChangesOptions } from '../../src/soledad/types.js';
import { openMailStore, type OpenedMailStore } from '../../src/mail/store/index.js';

const message = (n: number) => Buffer.from(`Subject: m${n}\r\nMessage-ID: <${n}@x>\r\n\r\nbody ${n}\r\n`);

/** Counts the changes a store's feed replays by wrapping `changes`. */
function countingReplays(docs: MemoryDocumentStore): { replayed: () => number } {
  let n = 0;
  const orig = docs.changes.bind(docs);
  docs.changes = ((opts?: ChangesOptions) => {
    const it = orig(opts);
    return (async function* () {
      for await (const c of it) {
        if (!opts?.live) n++;
        yield c;
      }
    })();
  }) as typeof docs.changes;
  return { replayed: () => n };
}

async function state(s: OpenedMailStore) {
  const out: Record<string, unknown> = {};
  for (const m of await s.listMailboxes()) out[m.name] = { info: m, messages: (await s.messages(m.name)).messages };
  return out;
}

test('restart restores the index from the snapshot and replays only the changes since', async () => {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const s1 = await openMailStore({ docs, local });
  for (let i = 1; i <= 40; i++) await s1.append(i % 2 ? 'INBOX' : 'Archive', message(i));
  await s1.storeFlags('INBOX', [1, 3], 'add', ['\\Seen', '$Work']);
  await s1.expunge('INBOX', [5]);
  await s1.close(); // writes the snapshot
  const before = await state(s1);

  // Another device changes things while this one is down.
  const other = await openMailStore({ docs, local: new MemoryDocumentStore() });
  // UIDs are per device: find message 1 on the other device by its content hash.
  const hash1 = createHash('sha256').update(message(1)).digest('hex');
  const uidThere = (await other.messages('INBOX')).messages.find((m) => m.hash === hash1)!.uid;
  await other.storeFlags('INBOX', [uidThere], 'remove', ['$Work']);
  await other.append('INBOX', message(99));
  await other.close();

  const counter = countingReplays(docs);
  const s2 = await openMailStore({ docs, local });
  assert.ok(counter.replayed() < 10, `replayed ${counter.replayed()} changes`);
  const after = await state(s2);
  assert.deepEqual(after.Archive, before.Archive);
  const inboxBefore = before.INBOX as { info: { uidNext: number; highestModseq: number }; messages: Array<{ uid: number; flags: string[] }> };
  const inbox = after.INBOX as typeof inboxBefore;
  assert.deepEqual(inbox.messages.find((m) => m.uid === 1)!.flags, ['\\Seen']);
  assert.deepEqual(inbox.messages.find((m) => m.uid === 3)!.flags, ['\\Seen', '$Work']);
  assert.equal(inbox.messages.at(-1)!.uid, inboxBefore.info.uidNext);
  assert.ok(inbox.info.highestModseq > inboxBefore.info.highestModseq);
  assert.ok(!inbox.messages.some((m) => m.uid === 5));
  await s2.close();
  await docs.close();
  await local.close();
});

test('a damaged snapshot costs a rebuild, not UIDs', async () => {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const s1 = await openMailStore({ docs, local });
  for (let i = 1; i <= 5; i++) await s1.append('INBOX', message(i));
  await s1.expunge('INBOX', [5]);
  await s1.close();
  const pointer = await local.get<{ blob: string }>('index-snapshot', 'current');
  assert.ok(pointer);
  await local.putBlob(pointer.blob, Buffer.from('{"v":1,"modseq":3}\n["e", broken'));
  const s2 = await openMailStore({ docs, local });
  assert.deepEqual((await s2.messages('INBOX')).messages.map((m) => m.uid), [1, 2, 3, 4]);
  assert.equal((await s2.append('INBOX', message(6))).uid, 6);
  await s2.close();
  await docs.close();
  await local.close();
});

test('changes after the snapshot on this device (not yet in a snapshot) survive a crash', async () => {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const s1 = await openMailStore({ docs, local });
  for (let i = 1; i <= 3; i++) await s1.append('INBOX', message(i));
  await s1.snapshot();
  await s1.append('INBOX', message(4));
  await s1.storeFlags('INBOX', [2], 'add', ['\\Answered']);
  const modseq = (await s1.status('INBOX')).highestModseq;
  // "Crash": reopen over the same stores without closing s1 (no final snapshot).
  const s2 = await openMailStore({ docs, local });
  const st = await s2.status('INBOX');
  assert.equal(st.uidNext, 5);
  assert.ok(st.highestModseq >= modseq);
  assert.deepEqual((await s2.messages('INBOX')).messages.map((m) => [m.uid, m.flags]), [[1, []], [2, ['\\Answered']], [3, []], [4, []]]);
  assert.equal((await s2.append('INBOX', message(5))).uid, 5);
  await s1.close();
  await s2.close();
  await docs.close();
  await local.close();
});

test('a large batch keeps its UID records in batch documents; a rebuild without the snapshot reads them, later single records win', async () => {
  const docs = new MemoryDocumentStore();
  const other = await openMailStore({ docs, local: new MemoryDocumentStore() });
  for (let i = 1; i <= 250; i++) await other.append(i % 5 ? 'INBOX' : 'Archive', message(i));
  await other.close();

  // This device sees the 250 messages in one first build: one UID-record write.
  const local = new MemoryDocumentStore();
  const s1 = await openMailStore({ docs, local });
  const count = async (type: string) => {
    let n = 0;
    for await (const _ of local.query(type)) n++;
    return n;
  };
  assert.equal(await count('uid-batch'), 1);
  assert.equal(await count('uid'), 0);
  await s1.storeFlags('INBOX', [7], 'add', ['\\Flagged']);
  await s1.expunge('INBOX', [3]);
  const before = await state(s1);
  await s1.close();
  assert.ok((await count('uid')) >= 1, 'a single change is its own record');

  // Without the snapshot every UID and MODSEQ comes from the records alone.
  await local.delete('index-snapshot', 'current');
  const s2 = await openMailStore({ docs, local });
  assert.deepEqual(await state(s2), before);
  const inbox = before.INBOX as { info: { uidNext: number } };
  assert.equal((await s2.append('INBOX', message(999))).uid, inbox.info.uidNext);
  await s2.close();
  await docs.close();
  await local.close();
});

test('the snapshot is written gzipped, and a plain one from an earlier version is still read (no rebuild)', async () => {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const s1 = await openMailStore({ docs, local });
  for (let i = 1; i <= 30; i++) await s1.append('INBOX', message(i));
  await s1.storeFlags('INBOX', [2], 'add', ['\\Flagged']);
  await s1.close();
  const before = await state(s1);
  const pointer = await local.get<{ v: number; blob: string }>('index-snapshot', 'current');
  assert.ok(pointer);
  const stored: Buffer[] = [];
  for await (const c of local.readBlob(pointer.blob)) stored.push(c as Buffer);
  const bytes = Buffer.concat(stored);
  assert.equal(pointer.v, 3);
  assert.deepEqual([...bytes.subarray(0, 2)], [0x1f, 0x8b], 'gzip magic');
  const plain = gunzipSync(bytes);
  assert.equal(plain.toString().split('\n').filter(Boolean).length, 1 + 6 + 30, 'header, mailboxes, entries');

  // What version 2 wrote: the same lines, not compressed.
  await local.putBlob('index-snapshot-plain', plain);
  await local.put('index-snapshot', 'current', { ...pointer, v: 2, blob: 'index-snapshot-plain' });
  const counter = countingReplays(docs);
  const s2 = await openMailStore({ docs, local });
  assert.ok(counter.replayed() < 10, `replayed ${counter.replayed()} changes: the plain snapshot was not used`);
  assert.deepEqual(await state(s2), before);
  await s2.close();
  await docs.close();
  await local.close();
});
