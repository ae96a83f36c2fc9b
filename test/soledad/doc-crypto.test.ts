import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { CHUNK_DATA_BYTES, bucketSize, docIdFor, openChunk, openDoc, pad, sealChunk, sealDoc, unpad } from '../../src/soledad/doc-crypto.js';
import { deriveKeys, generateSecret } from '../../src/soledad/secrets.js';
import { DocumentIntegrityError, Soledad } from '../../src/soledad/index.js';
import { Scratch, TEST_KDF, collect } from './helpers.js';

test('padding buckets: powers of two up to 64 KiB, then multiples of 64 KiB', () => {
  assert.equal(bucketSize(1), 64);
  assert.equal(bucketSize(65), 128);
  assert.equal(bucketSize(15 * 1024), 16 * 1024);
  assert.equal(bucketSize(64 * 1024), 64 * 1024);
  assert.equal(bucketSize(64 * 1024 + 1), 128 * 1024);
  assert.equal(bucketSize(200 * 1024), 256 * 1024);
  assert.equal(bucketSize(257 * 1024), 320 * 1024);
  for (const n of [0, 1, 60, 61, 1000, 70000]) {
    const data = Buffer.alloc(n, 0x41);
    const padded = pad(data);
    assert.equal(padded.length, bucketSize(n + 4));
    assert.ok(unpad(padded, 'x').equals(data));
  }
});

test('sealed documents: same size for contents in one bucket, type and id inside the ciphertext', () => {
  const keys = deriveKeys(generateSecret());
  const id = docIdFor(keys, 'note', 'a');
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.notEqual(docIdFor(keys, 'note', 'a'), docIdFor(keys, 'notes', 'a'));
  const short = sealDoc(keys, 'main', id, { type: 'note', id: 'a', content: { t: 'x' } });
  const longer = sealDoc(keys, 'main', id, { type: 'note', id: 'a', content: { t: 'x'.repeat(20) } });
  assert.equal(short.c.length, longer.c.length);
  assert.deepEqual(openDoc(keys, 'main', id, longer), { type: 'note', id: 'a', content: { t: 'x'.repeat(20) } });
  // Another namespace (local vs replicated) does not authenticate.
  assert.throws(() => openDoc(keys, 'local', id, short), DocumentIntegrityError);
});

test('tampering and id-swapping in the store are detected and name the document', async () => {
  const s = new Scratch();
  try {
    const dataDir = s.dir();
    const sol = await Soledad.create({ dataDir, passphrase: 'pw', kdf: TEST_KDF });
    await sol.put('note', 'victim', { text: 'original' });
    await sol.put('note', 'other', { text: 'other text' });
    await sol.put('note', 'flipped', { text: 'to be flipped' });
    const db = (sol as unknown as { mainDb: PouchDB.Database }).mainDb;
    const keysView = sol as unknown as { store: { docId(t: string, i: string): string } };
    const victimId = keysView.store.docId('note', 'victim');
    const otherId = keysView.store.docId('note', 'other');
    const flippedId = keysView.store.docId('note', 'flipped');

    // Move the ciphertext of "other" onto "victim".
    const other = (await db.get(otherId)) as unknown as { n: string; c: string; v: number };
    const victim = await db.get(victimId);
    await db.put({ ...victim, n: other.n, c: other.c, v: other.v });
    await assert.rejects(sol.get('note', 'victim'), (err: Error) => {
      assert.ok(err instanceof DocumentIntegrityError);
      assert.equal((err as DocumentIntegrityError).docId, victimId);
      assert.ok(err.message.includes(victimId));
      assert.ok(!err.message.includes('other text'));
      return true;
    });

    // Flip one bit of a ciphertext.
    const flipped = (await db.get(flippedId)) as unknown as PouchDB.Core.ExistingDocument<{ c: string }>;
    const bytes = Buffer.from(flipped.c, 'base64');
    bytes[10] = bytes[10]! ^ 0x01;
    await db.put({ ...flipped, c: bytes.toString('base64') });
    await assert.rejects(sol.get('note', 'flipped'), DocumentIntegrityError);

    // The untouched one still reads; query skips nothing silently: it throws on the bad ones.
    assert.deepEqual(await sol.get('note', 'other'), { text: 'other text' });
    await assert.rejects(collect(sol.query('note')), DocumentIntegrityError);
    await sol.close();
  } finally {
    await s.cleanup();
  }
});

test('tampered blob chunks are detected, never returned', async () => {
  const s = new Scratch();
  try {
    const sol = await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF });
    s.defer(sol);
    const payload = Buffer.alloc(2 * CHUNK_DATA_BYTES + 100, 0x61);
    await sol.putBlob('b', payload);
    const db = (sol as unknown as { mainDb: PouchDB.Database }).mainDb;
    const all = await db.allDocs({ include_docs: true });
    const chunkDocs = all.rows.filter((r) => r.doc && (r.doc as { _attachments?: unknown })._attachments);
    assert.equal(chunkDocs.length, 3);
    const target = chunkDocs[1]!;
    const sealed = (await db.getAttachment(target.id, 'c')) as Buffer;
    sealed[sealed.length - 1] = sealed[sealed.length - 1]! ^ 0xff;
    await db.putAttachment(target.id, 'c', target.value.rev, sealed, 'application/octet-stream');
    let failed: Error | null = null;
    try {
      await collect(sol.readBlob('b'));
    } catch (err) {
      failed = err as Error;
    }
    assert.ok(failed instanceof DocumentIntegrityError, `expected an integrity error, got ${failed}`);
  } finally {
    await s.cleanup();
  }
});

test('the stored format is pinned: nonce, AES-256-GCM of the padded plaintext, tag; ids are HMAC-SHA256, remembered or not', () => {
  const keys = deriveKeys(generateSecret());
  const openRaw = (aad: string, iv: Buffer, body: Buffer): Buffer => {
    const d = crypto.createDecipheriv('aes-256-gcm', keys.docKey, iv);
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]);
  };
  const binding = { blobDocId: 'blob', writeId: 'w', index: 0, last: true };
  for (const n of [0, 1, 59, 60, 61, 5000, 32 * 1024 - 5, CHUNK_DATA_BYTES]) {
    const data = crypto.randomBytes(n);
    const sealed = sealChunk(keys, 'main', binding, data);
    const plain = openRaw('soledad-blob:v1:main:blob:w:0:last', sealed.subarray(0, 12), sealed.subarray(12));
    assert.ok(plain.equals(pad(data)), `chunk of ${n} bytes`);
    assert.ok(openChunk(keys, 'main', binding, sealed).equals(data));
  }
  for (const text of ['', 'x'.repeat(70_000), 'ünïcødé \ud83d\udce8 '.repeat(300), 'x'.repeat(64 * 1024 * 3)]) {
    const id = docIdFor(keys, 'note', text.slice(0, 10));
    const doc = { type: 'note', id: text.slice(0, 10), content: { text } };
    const f = sealDoc(keys, 'main', id, doc);
    const plain = openRaw(`soledad:v1:main:${id}`, Buffer.from(f.n, 'base64'), Buffer.from(f.c, 'base64'));
    assert.ok(plain.equals(pad(JSON.stringify({ t: doc.type, i: doc.id, c: doc.content }))), `doc of ${text.length} chars`);
    assert.deepEqual(openDoc(keys, 'main', id, f), doc);
  }
  // More ids than are remembered, asked twice: always the HMAC.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 5000; i += 7) {
      const expected = crypto.createHmac('sha256', keys.idKey).update(`entry\u0000m${i}`).digest('hex');
      assert.equal(docIdFor(keys, 'entry', `m${i}`), expected);
    }
  }
  assert.notEqual(docIdFor(deriveKeys(generateSecret()), 'entry', 'm0'), docIdFor(keys, 'entry', 'm0'), 'per key set');
});
