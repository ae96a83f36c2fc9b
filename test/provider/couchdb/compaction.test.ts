// The provider gives deleted blobs' disk space back: real Soledad devices
// through the gateway, the embedded server's LevelDB directories measured on disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Soledad } from '../../../src/soledad/index.js';
import { startEmbeddedCouch } from '../../../src/provider/couchdb/embedded.js';
import { registerAndLogin, startTestProvider, walkFiles } from '../helpers.js';

const MiB = 1024 * 1024;

/** Bytes of every user database's files at the provider. */
function userDbBytes(dataDir: string): number {
  const couch = path.join(dataDir, 'couch');
  let total = 0;
  for (const d of fs.readdirSync(couch)) {
    if (!d.startsWith('user-')) continue;
    for (const f of walkFiles(path.join(couch, d))) total += fs.statSync(f).size;
  }
  return total;
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

test('20 MB of blobs deleted by a client: the provider compacts and its disk shrinks; sync goes on during it and a second device restores after', { timeout: 240_000 }, async () => {
  // No timer pass during the test: compactNow() runs them.
  const p = await startTestProvider({ compaction: { intervalMs: 3600_000 } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-compaction-'));
  let first: Soledad | null = null;
  let second: Soledad | null = null;
  try {
    const s = await registerAndLogin(p, 'alice@example.org');
    const remote = { url: s.couchUrl, headers: { authorization: `Bearer ${s.token}` } };
    first = await Soledad.create({ dataDir: path.join(dir, 'one'), passphrase: 'pass phrase', remote, liveSync: false, kdf: { N: 1024, r: 8, p: 1 } });
    const kept = crypto.randomBytes(300 * 1024);
    await first.putBlob('kept', kept);
    const doomed: string[] = [];
    for (let i = 0; i < 10; i++) {
      const id = `doomed-${i}`;
      await first.putBlob(id, crypto.randomBytes(2 * MiB));
      doomed.push(id);
    }
    await first.syncOnce();
    const stored = userDbBytes(p.dataDir);
    assert.ok(stored > 20 * MiB, `the provider holds the blobs (${stored} bytes)`);

    for (const id of doomed) await first.deleteBlob(id);
    await first.syncOnce();
    // Tombstones alone give nothing back (LevelDB's own flushes and compactions may move a few MB either way).
    const deleted = userDbBytes(p.dataDir);
    assert.ok(deleted >= 18 * MiB, `deleted data still on disk before the compaction (${deleted} bytes)`);

    // A compaction while the client writes and syncs: both complete.
    const later = crypto.randomBytes(100 * 1024);
    await Promise.all([p.compactNow(), first.putBlob('later', later).then(() => first!.syncOnce())]);
    await p.compactNow(); // the write during the pass made the database dirty again: nothing left to count
    const after = userDbBytes(p.dataDir);
    assert.ok(deleted - after >= 16 * MiB, `the provider's disk shrank by most of the 20 MB (${stored}, ${deleted} after the deletions -> ${after})`);

    // A second device restored after the compaction: the kept blobs read back, the deleted ones are gone.
    second = await Soledad.restore({ dataDir: path.join(dir, 'two'), passphrase: 'pass phrase', remote, liveSync: false });
    assert.deepEqual(await readAll(second.readBlob('kept')), kept);
    assert.deepEqual(await readAll(second.readBlob('later')), later);
    for (const id of doomed) assert.equal(await second.hasBlob(id), false, `${id} deleted on the new device too`);

    // Replication in both directions goes on afterwards (checkpoints still valid).
    const fresh = crypto.randomBytes(50 * 1024);
    await second.putBlob('fresh', fresh);
    await second.syncOnce();
    await first.syncOnce();
    assert.deepEqual(await readAll(first.readBlob('fresh')), fresh);
  } finally {
    await first?.close();
    await second?.close();
    await p.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the embedded server\'s policy: old revisions compacted at once, LevelDB rewritten only past the threshold; counts survive a restart; in-process writes count', { timeout: 120_000 }, async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-compaction-'));
  let couch = await startEmbeddedCouch({ dataDir, compaction: { intervalMs: 3600_000 } });
  const req = (method: string, p: string, body?: unknown) =>
    fetch(couch.url + p, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  try {
    assert.equal((await req('PUT', 'userdb')).status, 201);
    const revs: Record<string, string> = {};
    for (let i = 0; i < 3; i++) {
      const data = crypto.randomBytes(MiB).toString('base64');
      const res = await req('PUT', `userdb/doc-${i}`, { _attachments: { c: { content_type: 'application/octet-stream', data } } });
      assert.equal(res.status, 201);
      revs[`doc-${i}`] = ((await res.json()) as { rev: string }).rev;
    }
    for (const [id, rev] of Object.entries(revs)) assert.equal((await req('DELETE', `userdb/${id}?rev=${rev}`)).status, 200);
    const [report] = await couch.compactNow();
    assert.equal(report?.documents, 3);
    assert.ok(report!.freedBytes >= 3 * MiB && report!.freedBytes < 3.2 * MiB, `counted ${report!.freedBytes}`);
    assert.equal(report!.rewritten, false, '3 MiB is below the 16 MiB floor');
    // The old revisions' bodies are gone; the tombstones replicate as before.
    assert.equal((await req('GET', `userdb/doc-0?rev=${revs['doc-0']}`)).status, 404);
    const changes = (await (await req('GET', 'userdb/_changes')).json()) as { results: Array<{ id: string; deleted?: boolean }> };
    assert.deepEqual(changes.results.map((r) => [r.id, r.deleted]).sort(), [['doc-0', true], ['doc-1', true], ['doc-2', true]]);
    assert.deepEqual(await couch.compactNow(), [], 'nothing written since: nothing looked at');
    await couch.close();

    // Restarted with a lower floor: the 3 MiB counted before are due now, without walking the database again.
    couch = await startEmbeddedCouch({ dataDir, compaction: { intervalMs: 3600_000, minBytes: MiB } });
    const [again] = await couch.compactNow();
    assert.equal(again?.documents, 0);
    assert.equal(again?.rewritten, true);
    assert.ok(again!.bytesAfter < again!.bytesBefore - 2 * MiB, `${again!.bytesBefore} -> ${again!.bytesAfter}`);

    // The MX's in-process writes count as writes too.
    const rev = await couch.local.put('userdb', { _id: 'incoming-1', _attachments: { c: { content_type: 'application/octet-stream', data: crypto.randomBytes(2 * MiB) } } } as never);
    await couch.local.remove('userdb', 'incoming-1', rev);
    const [mx] = await couch.compactNow();
    assert.equal(mx?.documents, 1);
    assert.equal(mx?.rewritten, false, 'at most one rewrite an hour');
    const [held] = await couch.compactNow();
    assert.equal(held?.db, 'userdb', 'a rewrite held back is looked at again by the next passes, without a write');

    // A database destroyed and created again under the same name is walked from its start.
    assert.equal((await req('DELETE', 'userdb')).status, 200);
    assert.equal((await req('PUT', 'userdb')).status, 201);
    const first = (await (await req('PUT', 'userdb/again', { n: 1 })).json()) as { rev: string };
    assert.equal((await req('PUT', 'userdb/again', { _rev: first.rev, n: 2 })).status, 201);
    const [recreated] = await couch.compactNow();
    assert.equal(recreated?.documents, 1);
  } finally {
    await couch.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
