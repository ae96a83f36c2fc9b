// Blob garbage collection after a restart (rules: src/mail/store/blob-gc.ts):
// content collected before is told apart by the listing of the stored blobs
// the first pass makes anyway, not by a blob read per hash; content stored
// again since it was found gone is proposed again. Real Soledad, reopened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Soledad } from '../../src/soledad/index.js';
import type { DocumentStore } from '../../src/soledad/types.js';
import { openMailStore, type OpenedMailStore } from '../../src/mail/store/index.js';
import { BlobGc, indexEntriesOf, mailDeviceId } from '../../src/mail/store/blob-gc.js';
import { Scratch, TEST_KDF } from '../soledad/helpers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const small = (n: number) => Buffer.from(`From: a@example.org\r\nSubject: small ${n}\r\nMessage-ID: <r${n}@example.org>\r\n\r\nbody ${n}\r\n`);

/** The store, counting the reads of single blobs' state the collector makes. */
function counting(docs: DocumentStore): { docs: DocumentStore; reads: string[] } {
  const reads: string[] = [];
  const counted = new Proxy(docs, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const fn = (v as (...a: unknown[]) => unknown).bind(target);
      if (prop !== 'blobVersion' && prop !== 'hasBlob') return fn;
      return (id: string, ...rest: unknown[]) => {
        reads.push(id);
        return fn(id, ...rest);
      };
    },
  });
  return { docs: counted, reads };
}

test('after a restart the first pass reads no blob for content collected before; content stored again since is proposed again', { timeout: 60_000 }, async () => {
  const s = new Scratch();
  const dataDir = s.dir();
  const N = 20;
  try {
    let sol = await Soledad.create({ dataDir, passphrase: 'pw', kdf: TEST_KDF });
    let mail: OpenedMailStore = await openMailStore({ docs: sol, local: sol.local, warmSummaries: false });
    for (let i = 0; i < N; i++) await mail.append('INBOX', small(i));
    await mail.append('INBOX', small(N)); // stays
    await mail.expunge('INBOX', Array.from({ length: N }, (_, i) => i + 1));
    const device = await mailDeviceId(sol.local);
    const before = new BlobGc({ docs: sol, entries: indexEntriesOf(mail), device, graceMs: 0, storedLatelyMs: 0 });
    assert.equal((await before.run()).proposed, N);
    assert.equal((await before.run()).deleted, N);
    await before.stop();
    await mail.close();
    await sol.close();

    // Restart.
    sol = s.defer(await Soledad.open({ dataDir, passphrase: 'pw' }));
    mail = s.defer(await openMailStore({ docs: sol, local: sol.local, warmSummaries: false }));
    const { docs, reads } = counting(sol);
    const after = new BlobGc({ docs, entries: indexEntriesOf(mail), device, graceMs: 0, storedLatelyMs: 0, sweepEveryMs: 0 });
    s.defer({ close: () => after.stop() });
    const first = await after.run();
    assert.deepEqual([first.proposed, first.deleted], [0, 0]);
    assert.deepEqual(reads, [], 'the listing showed the collected content is not here: no read per hash');

    // Collected content stored again and expunged before any pass saw it live: the next listing finds it.
    await mail.append('INBOX', small(3));
    const { messages } = await mail.messages('INBOX');
    await mail.expunge('INBOX', [messages.at(-1)!.uid]);
    const again = await after.run();
    assert.equal(again.proposed, 1);
    assert.deepEqual(reads, [sha(small(3))], 'one read: the blob proposed');
    assert.equal((await after.run()).deleted, 1);
    assert.equal(await sol.hasBlob(sha(small(3))), false);
    assert.equal(await sol.hasBlob(sha(small(N))), true, 'the live message keeps its content');
  } finally {
    await s.cleanup();
  }
});
