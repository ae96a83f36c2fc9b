// The blob store keeps blob metadata (and the decrypted chunks of small blobs)
// in memory. A blob rewritten on another device (same bytes, a new write with
// new chunks; the old chunks deleted) must still read correctly here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Soledad } from '../../src/soledad/index.js';
import { CHUNK_DATA_BYTES } from '../../src/soledad/doc-crypto.js';
import { Scratch, TEST_KDF, collect, createDb } from './helpers.js';

test('a read whose cached metadata names a write replaced by sync goes on with the new write', async () => {
  const s = new Scratch();
  try {
    const couch = await s.couch();
    const remote = { url: await createDb(couch, 'alice') };
    const opts = { passphrase: 'pw', remote, liveSync: false };
    const a = s.defer(await Soledad.create({ ...opts, dataDir: s.dir(), kdf: TEST_KDF }));
    const bytes = crypto.randomBytes(2 * CHUNK_DATA_BYTES + 100); // three chunks
    await a.putBlob('x', bytes);
    await a.syncOnce();
    const b = s.defer(await Soledad.restore({ ...opts, dataDir: s.dir() }));
    await b.syncOnce();
    // b reads a range inside the first chunk: its metadata and that chunk are now cached.
    assert.ok(Buffer.concat(await collect(b.readBlob('x', 10, 20))).equals(bytes.subarray(10, 20)));

    // a writes the same blob again (a new write id), which deletes the old chunks; b pulls that.
    await a.putBlob('x', bytes);
    await a.syncOnce();
    await b.syncOnce();

    assert.ok(Buffer.concat(await collect(b.readBlob('x'))).equals(bytes));
    assert.ok(Buffer.concat(await collect(b.readBlob('x', CHUNK_DATA_BYTES - 5, CHUNK_DATA_BYTES + 5))).equals(bytes.subarray(CHUNK_DATA_BYTES - 5, CHUNK_DATA_BYTES + 5)));
    await b.deleteBlob('x');
    await assert.rejects(collect(b.readBlob('x')), /no blob/);
  } finally {
    await s.cleanup();
  }
});
