// The provider gives deleted blobs' disk space back: real Soledad devices
// through the gateway, the embedded server's LevelDB directories measured on disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Soledad } from '../../../src/soledad/index.js';
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
    // Tombstones alone give nothing back.
    assert.ok(userDbBytes(p.dataDir) >= stored * 0.9, 'deleted data still on disk before the compaction');

    // A compaction while the client writes and syncs: both complete.
    const later = crypto.randomBytes(100 * 1024);
    await Promise.all([p.compactNow(), first.putBlob('later', later).then(() => first!.syncOnce())]);
    await p.compactNow(); // the write during the pass made the database dirty again: nothing left to count
    const after = userDbBytes(p.dataDir);
    assert.ok(stored - after >= 16 * MiB, `the provider's disk shrank by most of the 20 MB (${stored} -> ${after})`);

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
