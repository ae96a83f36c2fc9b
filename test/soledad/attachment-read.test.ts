// Attachment bytes read apart from PouchDB's read queue
// (src/soledad/attachment-read.ts), over a real local PouchDB: the same bytes
// and the same 404s as db.getAttachment, a 404 (never an empty answer) for
// bytes compacted away since the stub was read, and bytes that V8's young
// GCs free once the reader drops them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { openLocal, isNotFound, type Pouch } from '../../src/soledad/pouch.js';
import { readAttachment, readAttachmentOf, type AttachmentStub } from '../../src/soledad/attachment-read.js';
import { Scratch } from './helpers.js';

const att = (data: Buffer) => ({ c: { content_type: 'application/octet-stream', data } });

async function withDb(fn: (db: Pouch) => Promise<void>): Promise<void> {
  const s = new Scratch();
  const db = openLocal(s.dir(), 'att');
  try {
    await fn(db);
  } finally {
    await db.close();
    await s.cleanup();
  }
}

test('reads the same bytes as getAttachment, and 404s for a missing document or attachment', async () => {
  await withDb(async (db) => {
    const bytes = crypto.randomBytes(200_000);
    await db.put({ _id: 'a', _attachments: att(bytes) });
    await db.put({ _id: 'empty', _attachments: att(Buffer.alloc(0)) });
    await db.put({ _id: 'plain', x: 1 });
    // (PouchDB's adapter tags the Buffer with a `type` property: compare bytes.)
    assert.ok((await readAttachment(db, 'a', 'c')).equals(bytes));
    assert.ok((await readAttachment(db, 'a', 'c')).equals((await db.getAttachment('a', 'c')) as Buffer));
    assert.equal((await readAttachment(db, 'empty', 'c')).length, 0);
    for (const [id, name] of [['nope', 'c'], ['plain', 'c'], ['a', 'other']] as const) {
      await assert.rejects(readAttachment(db, id, name), (err) => isNotFound(err), `${id}/${name}`);
    }
    const doc = await db.get('a');
    await db.remove(doc);
    await assert.rejects(readAttachment(db, 'a', 'c'), (err) => isNotFound(err));
  });
});

test('bytes replaced and compacted away after the stub was read are a 404, not an empty attachment', async () => {
  await withDb(async (db) => {
    await db.put({ _id: 'h', _attachments: att(crypto.randomBytes(1000)) });
    const old = (await db.get('h')) as { _rev: string; _attachments: Record<string, AttachmentStub> };
    // A new revision with other bytes: auto-compaction (openLocal) drops the old revision's attachment.
    await db.put({ _id: 'h', _rev: old._rev, _attachments: att(crypto.randomBytes(1000)) });
    await db.compact();
    await assert.rejects(readAttachmentOf(db, 'h', 'c', old._attachments.c!), (err) => isNotFound(err));
  });
});

test('young GCs free the bytes once dropped (they do not wait for a full GC)', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (opts?: { type: 'minor' }) => void;
  await withDb(async (db) => {
    const CHUNK = 128 * 1024;
    for (let i = 0; i < 40; i++) await db.put({ _id: `k${i}`, _attachments: att(crypto.randomBytes(CHUNK)) });
    gc();
    const base = process.memoryUsage().arrayBuffers;
    let most = 0;
    // 160 reads, 20 MiB: a young GC every 2 MiB read. Bytes kept alive until a
    // full GC (db.getAttachment's: ~20 MiB here) would pile up across them.
    for (let n = 0; n < 160; n++) {
      const bytes = await readAttachment(db, `k${n % 40}`, 'c');
      assert.equal(bytes.length, CHUNK);
      if (n % 16 === 15) {
        gc({ type: 'minor' });
        await new Promise((r) => setImmediate(r));
      }
      most = Math.max(most, process.memoryUsage().arrayBuffers - base);
    }
    assert.ok(most < 8 * 2 ** 20, `at most ${(most / 2 ** 20).toFixed(1)} MiB of attachment bytes alive at once (young GCs every 2 MiB)`);
  });
});
