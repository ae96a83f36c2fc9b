// A query by type must list every document that existed before it began,
// even one rewritten while the query runs. PouchDB's LevelDB changes feed
// skips such a document in its snapshot (its newer entry lies beyond it);
// the outgoing queue's restart test missed a fresh item this way whenever its
// first relay attempt rewrote the item during the listing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Soledad } from '../../src/soledad/index.js';

test('query(type) lists a document that is being updated during the query', { timeout: 60_000 }, async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-query-'));
  const sol = await Soledad.create({ dataDir, passphrase: 'pw', kdf: { N: 2 ** 10, r: 8, p: 1 } });
  t.after(async () => {
    await sol.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const trials = 60;
  const missed: string[] = [];
  for (let i = 0; i < trials; i++) {
    const id = `item-${i}`;
    await sol.local.put('outgoing', id, { attempts: 0 });
    // Rewrites race with the listing, as a relay attempt's state update does.
    const updates = (async () => {
      for (let k = 1; k <= 3; k++) await sol.local.put('outgoing', id, { attempts: k });
    })();
    const listed: string[] = [];
    for await (const d of sol.local.query<{ attempts: number }>('outgoing')) listed.push(d.id);
    await updates;
    if (!listed.includes(id)) missed.push(id);
    assert.equal(new Set(listed).size, listed.length, 'no id listed twice');
  }
  assert.deepEqual(missed, [], `${missed.length}/${trials} listings missed the item being updated`);
  // And after the race, everything is listed exactly once with its last state.
  const all = new Map<string, number>();
  for await (const d of sol.local.query<{ attempts: number }>('outgoing')) all.set(d.id, d.content.attempts);
  assert.equal(all.size, trials);
  for (const v of all.values()) assert.equal(v, 3);
});
