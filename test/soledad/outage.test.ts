import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Soledad, type SyncStatus } from '../../src/soledad/index.js';
import { startEmbeddedCouch } from '../../src/provider/couchdb/embedded.js';
import { Scratch, TEST_KDF, createDb } from './helpers.js';

async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('continuous sync: server stopped mid-sync and restarted on the same data dir and port; local work goes on, nothing is lost', async () => {
  const s = new Scratch();
  const serverDir = s.dir();
  let couch = await startEmbeddedCouch({ dataDir: serverDir });
  try {
    const port = Number(new URL(couch.url).port);
    const url = await createDb(couch, 'alice');
    const sync = { backoff: { initialMs: 100, maxMs: 400 }, batchSize: 20 };
    const a = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF, remote: { url }, sync }));
    await a.syncOnce();
    const b = s.defer(await Soledad.restore({ dataDir: s.dir(), passphrase: 'pw', remote: { url }, sync }));
    const statuses: SyncStatus[] = [];
    a.on('sync', (st: SyncStatus) => statuses.push(st));

    // Live sync carries a write from A to B.
    await a.put('note', 'before', { v: 1 });
    await until('B sees the first note', async () => (await b.get('note', 'before')) !== null);

    // A big batch, and the server goes away while it is being pushed.
    const batch = Array.from({ length: 300 }, (_, i) => ({ type: 'note', id: `n${i}`, content: { i, pad: 'x'.repeat(2000) } }));
    const writing = a.bulkPut(batch);
    await new Promise((r) => setTimeout(r, 30));
    await couch.close();
    await writing; // local work is not blocked by the outage
    await a.put('note', 'during', { v: 2 });
    await b.put('note', 'from-b-during', { v: 3 });
    await until('A notices the outage', () => a.syncStatus().state === 'offline' || a.syncStatus().connected === false);
    assert.ok(a.syncStatus().lastError, 'the outage is reported');

    couch = await startEmbeddedCouch({ dataDir: serverDir, port });
    await until(
      'both devices have everything',
      async () => (await a.get('note', 'from-b-during')) !== null && (await b.get('note', 'during')) !== null && (await b.get('note', 'n299')) !== null,
      20_000,
    );
    for (const d of [a, b]) {
      for (const item of batch) assert.deepEqual(await d.get('note', item.id), item.content);
    }
    await until('A reports idle and connected again', () => a.syncStatus().connected && a.syncStatus().lastSync !== null);
    assert.ok(statuses.some((st) => st.state === 'offline'));
    assert.ok(statuses.some((st) => st.state === 'active'));
    assert.ok(statuses.some((st) => st.pending > 0), 'progress (pending changes) is reported while catching up');
    assert.equal(a.syncStatus().pending, 0);
  } finally {
    await s.cleanup();
    await couch.close();
  }
});
