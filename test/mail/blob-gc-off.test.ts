// Blob garbage collection turned off on a device (config.json "blobGc":
// {"enabled": false} -> BlobGc propose: false): it proposes and deletes
// nothing, withdraws its own pending rounds, and still answers the other
// devices' rounds (ack), so collection elsewhere is not held up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { openMailStore } from '../../src/mail/store/index.js';
import { DocumentMailStore } from '../../src/mail/store/mail-store.js';
import { BlobGc } from '../../src/mail/store/blob-gc.js';
import { BLOB_GC_MERGE_RULES, GC_DOC, type CheckinDoc, type GcIntentDoc } from '../../src/mail/store/blob-gc-docs.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const DAY = 24 * 3600_000;

test('a device with collection off proposes and deletes nothing, withdraws its own round, and acks another device\'s', async () => {
  const docs = new MemoryDocumentStore();
  for (const [type, rule] of Object.entries(BLOB_GC_MERGE_RULES)) docs.registerMerge(type, rule.merge as never);
  const mail = await openMailStore({ docs, local: new MemoryDocumentStore(), warmSummaries: false });
  assert.ok(mail instanceof DocumentMailStore);
  let now = Date.parse('2026-01-01T00:00:00Z');
  const gcOf = (device: string, propose: boolean) =>
    new BlobGc({ docs: mail.docs, entries: () => mail.index.entries.values(), device, graceMs: DAY, storedLatelyMs: 0, now: () => now, propose });
  const on = gcOf('dev-a', true);
  try {
    const raw = Buffer.from('From: a@example.org\r\nSubject: off\r\n\r\nbody\r\n');
    const hash = sha(raw);
    await mail.append('INBOX', raw);
    await mail.expunge('INBOX', [1]);
    assert.equal((await on.run()).proposed, 1, 'with collection on, dev-a proposes');
    await on.stop();

    // Turned off on dev-a: its pending round is withdrawn, nothing is deleted, however long it waits.
    const off = gcOf('dev-a', false);
    now += DAY + 1;
    const report = await off.run();
    assert.equal(report.deleted, 0);
    assert.equal(report.proposed, 0);
    assert.equal((await docs.get<GcIntentDoc>(GC_DOC.intent, hash))!.state, 'cancelled');
    now += 2 * DAY;
    assert.equal((await off.run()).proposed, 0, 'not proposed again while off');
    assert.equal(await docs.hasBlob(hash), true);

    // Another device (on) proposes; dev-a (off) acks that round and dev-b deletes after the grace period.
    const other = gcOf('dev-b', true);
    assert.equal((await other.run()).proposed, 1);
    const round = (await docs.get<GcIntentDoc>(GC_DOC.intent, hash))!.round;
    await off.run();
    assert.equal((await docs.get<CheckinDoc>(GC_DOC.checkin, 'dev-a'))!.acks[hash], round);
    now += DAY + 1;
    assert.equal((await other.run()).deleted, 1);
    assert.equal(await docs.hasBlob(hash), false);
    await off.stop();
    await other.stop();
  } finally {
    await mail.close();
  }
});
