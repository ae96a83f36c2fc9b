// New blobs are written in 128 KiB chunks; blobs written before in 32 KiB
// ones (each head records its chunk size). Both must read byte-exact, whole
// and in ranges across either size's chunk borders, on the device that wrote
// them and on a new device restored from the provider, and side by side.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Soledad } from '../../src/soledad/index.js';
import { CHUNK_DATA_BYTES, OLD_CHUNK_DATA_BYTES } from '../../src/soledad/doc-crypto.js';
import type { BlobStore } from '../../src/soledad/blob-store.js';
import { Scratch, collect, dumpServerDb, firstDevice } from './helpers.js';

const OLD = OLD_CHUNK_DATA_BYTES;
const NEW = CHUNK_DATA_BYTES;

/** The blob store inside a Soledad (private): a test writes with the old chunk size through it. */
function blobStoreOf(sol: Soledad): BlobStore {
  return (sol as unknown as { store: { blobs: BlobStore } }).store.blobs;
}

async function bytes(sol: Soledad, id: string, start?: number, end?: number): Promise<Buffer> {
  return Buffer.concat((await collect(sol.readBlob(id, start, end))) as Buffer[]);
}

/** Ranges at the start, end and across chunk borders of both sizes (and a range spanning several chunks). */
function rangesFor(size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [[0, 1], [0, 100], [size - 7, size], [1, size - 1]];
  for (const border of [OLD, 2 * OLD, 3 * OLD, 4 * OLD, NEW, 2 * NEW]) {
    if (border + 5 < size) out.push([border - 5, border + 5], [border - 1, border], [border, border + 1]);
  }
  out.push([OLD - 3, 5 * OLD + 3]);
  return out.filter(([s, e]) => s >= 0 && e <= size && s < e);
}

async function assertReads(sol: Soledad, id: string, want: Buffer, what: string): Promise<void> {
  assert.ok((await bytes(sol, id)).equals(want), `${what}: whole`);
  for (const [s, e] of rangesFor(want.length)) {
    assert.ok((await bytes(sol, id, s, e)).equals(want.subarray(s, e)), `${what}: range ${s}-${e}`);
  }
}

test('a blob written with 32 KiB chunks reads byte-exact with the 128 KiB code, beside new blobs, here and restored', async () => {
  assert.equal(NEW + 4, 128 * 1024, 'new chunks pad to 128 KiB');
  const s = new Scratch();
  try {
    const { url, solA: a, restore } = await firstDevice(s);
    const base = (await dumpServerDb(url)).docs;

    // As the code before wrote it: 5 chunks of 32 KiB and a bit.
    const oldBytes = crypto.randomBytes(5 * OLD + 1234);
    blobStoreOf(a).writeChunkBytes = OLD;
    await a.putBlob('old', oldBytes, { meta: { m: 'old' } });
    await a.syncOnce();
    assert.equal((await dumpServerDb(url)).docs - base, 6, 'old size: a head and 5 chunk documents');

    // As the code now writes: the same size is 2 chunks (head + 1 document).
    blobStoreOf(a).writeChunkBytes = NEW;
    const newBytes = crypto.randomBytes(5 * OLD + 1234);
    await a.putBlob('new', newBytes);
    const exact = crypto.randomBytes(2 * NEW); // an exact multiple: no short last chunk
    await a.putBlob('exact', exact);
    await a.syncOnce();
    assert.equal((await dumpServerDb(url)).docs - base, 6 + 2 + 2, 'new size: fewer documents');

    // On this device (metadata cached by the writes), and on a new device (nothing cached).
    await assertReads(a, 'old', oldBytes, 'old, writer');
    await assertReads(a, 'new', newBytes, 'new, writer');
    const b = await restore();
    assert.deepEqual(await b.blobMeta('old'), { m: 'old' });
    assert.equal(await b.blobSize('old'), oldBytes.length);
    await assertReads(b, 'old', oldBytes, 'old, restored');
    await assertReads(b, 'new', newBytes, 'new, restored');
    await assertReads(b, 'exact', exact, 'exact, restored');

    // Rewriting an old-size blob with the new size replaces its chunks: nothing of the old write is left.
    await b.putBlob('old', oldBytes, { meta: { m: 'again' } });
    await b.syncOnce();
    assert.equal((await dumpServerDb(url)).docs - base, 2 + 2 + 2, 'the 32 KiB chunk documents are gone');
    await assertReads(b, 'old', oldBytes, 'old rewritten');
    assert.deepEqual(await b.blobMeta('old'), { m: 'again' });
  } finally {
    await s.cleanup();
  }
});
