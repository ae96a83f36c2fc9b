// A blob's head document holds its metadata, the caller's `meta` value and
// its first chunk: a small blob is one document at the provider, a larger one
// a head plus one document per further chunk; none of it readable there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Soledad } from '../../src/soledad/index.js';
import { CHUNK_DATA_BYTES } from '../../src/soledad/doc-crypto.js';
import { Scratch, TEST_KDF, collect, dumpServerDb, firstDevice } from './helpers.js';

const MARKER = 'OKAPI-MARKER-5521';

test('blob head: one document for a small blob, meta kept with it, chunks counted, rewrite and delete leave nothing behind', async () => {
  const s = new Scratch();
  try {
    const { url, solA: a, restore } = await firstDevice(s);
    const base = (await dumpServerDb(url)).docs; // the wrapped secret

    const small = Buffer.from(`small ${MARKER} `.repeat(500));
    const meta = { structure: { subject: `hello ${MARKER}`, parts: [1, 2, 3] } };
    await a.putBlob('small', small, { meta });
    await a.syncOnce();
    let dump = await dumpServerDb(url);
    assert.equal(dump.docs - base, 1, 'a small blob and its meta are one document');
    assert.equal(dump.attachments, 1);
    assert.equal(dump.text.split(MARKER).length - 1, 0, 'neither the bytes nor the meta are readable at the provider');

    // Three chunks: the head (chunk 0) and two chunk documents.
    const big = crypto.randomBytes(2 * CHUNK_DATA_BYTES + 100);
    await a.putBlob('big', big);
    await a.syncOnce();
    dump = await dumpServerDb(url);
    assert.equal(dump.docs - base, 1 + 3);
    assert.equal(dump.attachments, 1 + 3);

    const b = await restore();
    assert.deepEqual(await b.blobMeta('small'), meta);
    assert.equal(await b.blobMeta('big'), null, 'no meta given, none returned');
    assert.equal(await b.blobMeta('missing'), null);
    assert.ok(Buffer.concat(await collect(b.readBlob('small'))).equals(small));
    assert.ok(Buffer.concat(await collect(b.readBlob('big'))).equals(big));
    assert.ok(Buffer.concat(await collect(b.readBlob('big', CHUNK_DATA_BYTES - 3, CHUNK_DATA_BYTES + 3))).equals(big.subarray(CHUNK_DATA_BYTES - 3, CHUNK_DATA_BYTES + 3)));

    // A rewrite with other bytes (not done to content-addressed mail blobs)
    // replaces the head and deletes the old write's chunks.
    const other = crypto.randomBytes(CHUNK_DATA_BYTES + 10);
    await a.putBlob('big', other, { meta: { v: 2 } });
    assert.ok(Buffer.concat(await collect(a.readBlob('big'))).equals(other));
    await a.syncOnce();
    dump = await dumpServerDb(url);
    assert.equal(dump.docs - base, 1 + 2, 'old chunk documents are deleted');
    await b.syncOnce();
    assert.deepEqual(await b.blobMeta('big'), { v: 2 });
    const c = await restore();
    assert.ok(Buffer.concat(await collect(c.readBlob('big'))).equals(other));

    await a.deleteBlob('big');
    await a.deleteBlob('small');
    assert.equal(await a.hasBlob('small'), false);
    assert.equal(await a.blobMeta('small'), null);
    await a.syncOnce();
    assert.equal((await dumpServerDb(url)).docs - base, 0);
  } finally {
    await s.cleanup();
  }
});

test('blob head: a first chunk moved into another blob\'s head is refused, not returned', async () => {
  const s = new Scratch();
  try {
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF }));
    await sol.putBlob('one', Buffer.from('first blob bytes'));
    await sol.putBlob('two', Buffer.from('second blob bytes'));
    const db = (sol as unknown as { mainDb: PouchDB.Database }).mainDb;
    const heads = (await db.allDocs({ include_docs: true, attachments: true })).rows
      .map((r) => r.doc as PouchDB.Core.ExistingDocument<{ _attachments?: Record<string, { data: string; content_type: string }> }>)
      .filter((d) => d._attachments);
    assert.equal(heads.length, 2);
    const [x, y] = heads as [typeof heads[0], typeof heads[0]];
    await db.put({ ...x, _attachments: { c: { content_type: 'application/octet-stream', data: y._attachments!.c!.data } } } as never);
    const results = await Promise.allSettled(['one', 'two'].map(async (id) => Buffer.concat(await collect(sol.readBlob(id))).toString()));
    assert.equal(results.filter((r) => r.status === 'rejected').length, 1, 'the blob whose head was altered fails to read');
    for (const r of results) if (r.status === 'fulfilled') assert.match(r.value, /^(first|second) blob bytes$/);
  } finally {
    await s.cleanup();
  }
});
