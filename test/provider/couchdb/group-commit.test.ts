import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import PouchDB from 'pouchdb';
import { startEmbeddedCouch } from '../../../src/provider/couchdb/embedded.js';
import { GroupCommit } from '../../../src/provider/couchdb/group-commit.js';
import { CouchClient, CouchError } from '../../../src/provider/store/couch-client.js';

test('group commit: writes that arrive during a commit go together as one bulkDocs; a failing document fails alone', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
  const db = new PouchDB(path.join(dir, 'db'));
  // Opened first: a call on a PouchDB still opening is queued and replayed, which would count twice.
  await db.info();
  const calls: number[] = [];
  const bulkDocs = db.bulkDocs.bind(db);
  // Counts the commits (group sizes) the queue makes on a real LevelDB-backed PouchDB.
  (db as unknown as { bulkDocs: unknown }).bulkDocs = (docs: object[]) => {
    calls.push(docs.length);
    return bulkDocs(docs as PouchDB.Core.PutDocument<object>[]);
  };
  const writes = new GroupCommit(async () => db, (err) => new CouchError((err as { status?: number }).status ?? 500, 'x', String((err as Error).message)));
  try {
    const bodies = Array.from({ length: 10 }, (_, i) => crypto.randomBytes(1000 + i));
    const results = await Promise.allSettled(bodies.map((data, i) => writes.put('db', { _id: `doc-${i}`, _attachments: { a: { content_type: 'application/octet-stream', data } } })));
    assert.deepEqual(calls, [1, 9], 'the first write alone, the nine that queued behind it together');
    for (const r of results) assert.equal(r.status, 'fulfilled');
    for (const [i, data] of bodies.entries()) {
      const att = (await db.getAttachment(`doc-${i}`, 'a')) as Buffer;
      assert.deepEqual(Buffer.from(att), data);
    }
    // The caller's Buffer was stored through a view, not consumed or changed.
    assert.equal(bodies[0]!.length, 1000);

    // A reserved _id makes PouchDB refuse its whole call: the group is then
    // committed one by one, and only that document fails.
    calls.length = 0;
    const mixed = await Promise.allSettled([writes.put('db', { _id: 'first' }), writes.put('db', { _id: 'ok-1' }), writes.put('db', { _id: '_bad' }), writes.put('db', { _id: 'ok-2' })]);
    assert.deepEqual(calls, [1, 3, 1, 1, 1]);
    assert.deepEqual(mixed.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const bad = mixed[2] as PromiseRejectedResult;
    assert.ok(bad.reason instanceof CouchError && bad.reason.status === 400);
    assert.ok(await db.get('ok-2'));

    // Groups are bounded in bytes (8 MiB): 3 MB documents go two at a time.
    calls.length = 0;
    const big = Array.from({ length: 6 }, () => crypto.randomBytes(3_000_000));
    await Promise.all(big.map((data, i) => writes.put('db', { _id: `big-${i}`, _attachments: { a: { content_type: 'application/octet-stream', data } } })));
    assert.deepEqual(calls, [1, 2, 2, 1]);
    assert.deepEqual(Buffer.from((await db.getAttachment('big-5', 'a')) as Buffer), big[5]);

    // A conflict fails only the conflicting document; the queue goes on for later writes.
    const again = await Promise.allSettled([writes.put('db', { _id: 'doc-0', v: 2 }), writes.put('db', { _id: 'new-1' }), writes.put('db', { _id: 'new-2' })]);
    assert.equal(again[0].status, 'rejected');
    assert.equal((again[0] as PromiseRejectedResult).reason.status, 409);
    assert.equal(again[1].status, 'fulfilled');
    assert.equal(again[2].status, 'fulfilled');
    assert.match(await writes.put('db', { _id: 'later' }), /^1-/);
  } finally {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('embedded server: concurrent in-process deliveries to one database are all stored byte-exact and seen by a waiting _changes feed', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
  const couch = await startEmbeddedCouch({ dataDir: dir });
  const direct = new CouchClient(couch.url, couch.local);
  const overHttp = new CouchClient(couch.url);
  try {
    await overHttp.ensureDb('userdb');
    await overHttp.ensureDb('other');
    const since = ((await (await overHttp.request('GET', 'userdb')).json()) as { update_seq: string | number }).update_seq;
    const n = 25;
    const bodies = Array.from({ length: n }, (_, i) => crypto.randomBytes(2000 + i * 3000));
    const stored = await Promise.allSettled([
      ...bodies.map((data, i) =>
        direct.createDocWithAttachment(i % 5 === 4 ? 'other' : 'userdb', { _id: `m-${i}`, sealmail: 'incoming' }, { name: 'message.pgp', contentType: 'application/pgp-encrypted', data }),
      ),
      direct.createDocWithAttachment('missing', { _id: 'x' }, { name: 'a', contentType: 'text/plain', data: Buffer.from('x') }),
    ]);
    for (const r of stored.slice(0, n)) assert.equal(r.status, 'fulfilled');
    const missing = stored[n]!;
    assert.ok(missing.status === 'rejected' && missing.reason instanceof CouchError && missing.reason.status === 404);

    for (const [i, data] of bodies.entries()) {
      const db = i % 5 === 4 ? 'other' : 'userdb';
      const res = await overHttp.request('GET', `${db}/m-${i}/message.pgp`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), data, `m-${i}`);
      const doc = (await overHttp.getDoc(db, `m-${i}`)) as unknown as { _attachments: { 'message.pgp': { digest: string; length: number } } };
      assert.equal(doc._attachments['message.pgp'].digest, 'md5-' + crypto.createHash('md5').update(data).digest('base64'));
      assert.equal(doc._attachments['message.pgp'].length, data.length);
    }
    const changes = (await (await overHttp.request('GET', `userdb/_changes?since=${encodeURIComponent(String(since))}`)).json()) as { results: Array<{ id: string }> };
    const expected = bodies.map((_, i) => i).filter((i) => i % 5 !== 4).map((i) => `m-${i}`);
    assert.deepEqual(changes.results.map((r) => r.id).sort(), expected.sort());
  } finally {
    direct.close();
    overHttp.close();
    await couch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
