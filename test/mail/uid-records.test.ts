// How this device's UID records are persisted (src/mail/store/device-state.ts):
// a burst of new messages shares one 'uid-batch' document, a few stay one
// document each, and whatever the mix, the latest record of an entry wins
// when the records are read back without the index snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { openMailStore, type OpenedMailStore } from '../../src/mail/store/index.js';
import { loadDeviceState, uidRecordDocs, type UidRecord } from '../../src/mail/store/device-state.js';

const message = (n: number) => Buffer.from(`Subject: m${n}\r\nMessage-ID: <${n}@uid-records>\r\n\r\nbody ${n}\r\n`);

async function count(local: MemoryDocumentStore, type: string): Promise<number> {
  let n = 0;
  for await (const _ of local.query(type)) n++;
  return n;
}

async function listing(s: OpenedMailStore) {
  return { info: await s.status('INBOX'), messages: (await s.messages('INBOX')).messages.map((m) => [m.uid, m.modseq, m.flags]) };
}

test('a burst of deliveries keeps its new UID records in one batch document; a few new ones, and changes, stay single', { timeout: 30_000 }, async () => {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const s1 = await openMailStore({ docs, local });
  const deliver = (from: number, n: number) =>
    s1.deliverMany(
      'INBOX',
      Array.from({ length: n }, (_, k) => ({ raw: message(from + k), deliveryId: `incoming:${from + k}`, internalDate: Date.UTC(2026, 0, 1) + k })),
    );
  await deliver(1, 30);
  assert.equal(await count(local, 'uid-batch'), 1, 'the burst: one document');
  assert.equal(await count(local, 'uid'), 0);
  await deliver(31, 3);
  assert.equal(await count(local, 'uid-batch'), 1);
  assert.equal(await count(local, 'uid'), 3, 'three new messages: one document each');
  await s1.storeFlags('INBOX', [5, 6], 'add', ['\\Seen']);
  await s1.expunge('INBOX', [7]);
  const before = await listing(s1);
  await s1.close();

  // Without the snapshot, UIDs and MODSEQs come from the records alone: the later changes win over the batch.
  await local.delete('index-snapshot', 'current');
  const s2 = await openMailStore({ docs, local });
  assert.deepEqual(await listing(s2), before);
  assert.equal((await s2.append('INBOX', message(99))).uid, 34);
  await s2.close();
  await docs.close();
  await local.close();
});

test('in one write, an entry\'s first record and a later change of it: the change is read last', async () => {
  const local = new MemoryDocumentStore();
  const rec = (u: number, s: number, f = ''): UidRecord => ({ m: 'inbox', u, s, f, x: 0 });
  const records = [
    ...Array.from({ length: 9 }, (_, i) => ({ id: `e${i}`, record: rec(i + 1, i + 1), fresh: true })),
    { id: 'e0', record: rec(1, 20, '\\Seen') },
  ];
  const written = uidRecordDocs(records);
  assert.deepEqual(
    written.map((d) => d.type),
    ['uid-batch', 'uid'],
  );
  await local.bulkPut(written);
  const { records: read } = await loadDeviceState(local);
  assert.deepEqual(read.get('e0'), rec(1, 20, '\\Seen'));
  assert.deepEqual(read.get('e8'), rec(9, 9));
  await local.close();
});
