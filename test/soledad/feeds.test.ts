import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Soledad } from '../../src/soledad/index.js';
import type { DocChange, DocumentStore } from '../../src/soledad/types.js';
import { Scratch, TEST_KDF, collect, createDb, dumpServerDb } from './helpers.js';

test('changes(): decrypted local writes and deletions, since, and live changes arriving by sync until aborted', async () => {
  const s = new Scratch();
  try {
    const couch = await s.couch();
    const url = await createDb(couch, 'alice');
    const a = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF, remote: { url }, liveSync: false }));
    await a.put('mailbox', 'INBOX', { name: 'INBOX' });
    await a.put('mailbox', 'Trash', { name: 'Trash' });
    await a.put('mailbox', 'INBOX', { name: 'INBOX', subscribed: true });
    await a.delete('mailbox', 'Trash');
    await a.putBlob('blob', Buffer.from('not in the changes feed'));
    const all = await collect(a.changes());
    assert.deepEqual(
      all.map((c) => [c.type, c.id, c.content]),
      [
        ['mailbox', 'INBOX', { name: 'INBOX', subscribed: true }],
        ['mailbox', 'Trash', null],
      ],
    );
    const seqs = all.map((c) => Number(c.seq));
    assert.ok(seqs[0]! < seqs[1]!, 'seqs increase');
    assert.deepEqual(await collect(a.changes({ since: all[1]!.seq })), []);

    await a.syncOnce();
    const b = s.defer(await Soledad.restore({ dataDir: s.dir(), passphrase: 'pw', remote: { url }, liveSync: false }));
    const controller = new AbortController();
    const seen: DocChange[] = [];
    const following = (async () => {
      for await (const c of b.changes({ since: 'now', live: true, signal: controller.signal })) {
        seen.push(c);
        if (seen.length === 2) controller.abort();
      }
    })();
    await a.put('mailbox', 'Archive', { name: 'Archive' });
    await a.put('entry', 'e1', { flags: ['\\Seen'] });
    await a.syncOnce();
    await b.syncOnce();
    await following;
    assert.deepEqual(seen.map((c) => [c.type, c.id]).sort(), [['entry', 'e1'], ['mailbox', 'Archive']]);
  } finally {
    await s.cleanup();
  }
});

test('live changes end when the store closes', async () => {
  const s = new Scratch();
  try {
    const sol = await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF });
    const iterating = collect(sol.changes({ live: true }));
    await sol.put('t', '1', { a: 1 });
    await new Promise((r) => setTimeout(r, 50));
    await sol.close();
    const got = await iterating;
    assert.deepEqual(got.map((c) => c.id), ['1']);
  } finally {
    await s.cleanup();
  }
});

test('local namespace: same API, encrypted, never replicated, and its ciphertexts do not validate in the replicated store', async () => {
  const s = new Scratch();
  try {
    const couch = await s.couch();
    const url = await createDb(couch, 'alice');
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF, remote: { url }, liveSync: false }));
    const local: DocumentStore = sol.local;
    await local.put('uid-map', 'INBOX', { next: 42, marker: 'LOCAL-ONLY-MARK' });
    await local.bulkPut([{ type: 'uid-map', id: 'Sent', content: { next: 7 } }]);
    assert.deepEqual(await local.get('uid-map', 'INBOX'), { next: 42, marker: 'LOCAL-ONLY-MARK' });
    assert.equal(await sol.get('uid-map', 'INBOX'), null, 'not visible in the replicated store');
    assert.deepEqual((await collect(local.query('uid-map'))).map((d) => d.id).sort(), ['INBOX', 'Sent']);
    await sol.put('x', 'y', { z: 1 });
    await sol.syncOnce();
    const dump = await dumpServerDb(url);
    assert.equal(dump.text.split('LOCAL-ONLY-MARK').length - 1, 0);
    const localDb = (sol as unknown as { localDb: PouchDB.Database }).localDb;
    const localIds = (await localDb.allDocs()).rows.map((r) => r.id);
    for (const id of localIds) assert.ok(!dump.text.includes(id), 'no local doc id on the server');
  } finally {
    await s.cleanup();
  }
});

test('query by type across sync; bulkPut replaces existing documents', async () => {
  const s = new Scratch();
  try {
    const couch = await s.couch();
    const url = await createDb(couch, 'alice');
    const a = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF, remote: { url }, liveSync: false }));
    await a.syncOnce();
    const b = s.defer(await Soledad.restore({ dataDir: s.dir(), passphrase: 'pw', remote: { url }, liveSync: false }));
    assert.deepEqual(await collect(b.query('entry')), []); // index built before the docs arrive
    await a.bulkPut(Array.from({ length: 450 }, (_, i) => ({ type: 'entry', id: `e${i}`, content: { i } })));
    await a.bulkPut([{ type: 'entry', id: 'e1', content: { i: 1001 } }, { type: 'mailbox', id: 'INBOX', content: {} }]);
    await a.delete('entry', 'e2');
    await a.syncOnce();
    await b.syncOnce();
    const entries = await collect(b.query<{ i: number }>('entry'));
    assert.equal(entries.length, 449);
    assert.equal(entries.find((e) => e.id === 'e1')?.content.i, 1001);
    assert.ok(!entries.some((e) => e.id === 'e2'));
    assert.deepEqual((await collect(b.query('mailbox'))).map((d) => d.id), ['INBOX']);
  } finally {
    await s.cleanup();
  }
});

test('writes stay correct when the known revision is stale (replicated edits) or the doc was deleted', async () => {
  const s = new Scratch();
  try {
    const couch = await s.couch();
    const url = await createDb(couch, 'alice');
    const a = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF, remote: { url }, liveSync: false }));
    await a.put('t', 'one', { v: 1 });
    await a.bulkPut([{ type: 't', id: 'two', content: { v: 1 } }]);
    await a.syncOnce();
    const b = s.defer(await Soledad.restore({ dataDir: s.dir(), passphrase: 'pw', remote: { url }, liveSync: false }));
    await b.put('t', 'one', { v: 2 });
    await b.put('t', 'two', { v: 2 });
    await b.syncOnce();
    await a.syncOnce(); // A's remembered revisions are now stale
    await a.put('t', 'one', { v: 3 });
    await a.bulkPut([{ type: 't', id: 'two', content: { v: 3 } }]);
    assert.deepEqual(await a.get('t', 'one'), { v: 3 });
    assert.deepEqual(await a.get('t', 'two'), { v: 3 });
    await a.delete('t', 'one');
    assert.equal(await a.get('t', 'one'), null);
    await a.put('t', 'one', { v: 4 });
    assert.deepEqual(await a.get('t', 'one'), { v: 4 });
    await a.syncOnce();
    await b.syncOnce();
    assert.deepEqual(await b.get('t', 'one'), { v: 4 });
    assert.deepEqual(await b.get('t', 'two'), { v: 3 });
  } finally {
    await s.cleanup();
  }
});

test('the type index survives a restart and is rebuilt from the documents if its directory is lost', async () => {
  const s = new Scratch();
  try {
    const dataDir = s.dir();
    const a = await Soledad.create({ dataDir, passphrase: 'pw', kdf: TEST_KDF });
    await a.bulkPut(Array.from({ length: 30 }, (_, i) => ({ type: i % 3 === 0 ? 'mailbox' : 'entry', id: `d${i}`, content: { i } })));
    await a.local.put('uid', 'INBOX', { next: 1 });
    await a.close();

    const b = await Soledad.open({ dataDir, passphrase: 'pw' });
    assert.equal((await collect(b.query('mailbox'))).length, 10);
    assert.equal((await collect(b.query('entry'))).length, 20);
    assert.equal((await collect(b.local.query('uid'))).length, 1);
    assert.equal((await collect(b.query('uid'))).length, 0, 'namespaces do not mix');
    await b.close();

    fs.rmSync(path.join(dataDir, 'index'), { recursive: true, force: true });
    const c = s.defer(await Soledad.open({ dataDir, passphrase: 'pw' }));
    assert.deepEqual((await collect(c.query<{ i: number }>('mailbox'))).map((d) => d.content.i).sort((x, y) => x - y), [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
    assert.equal((await collect(c.local.query('uid'))).length, 1);
  } finally {
    await s.cleanup();
  }
});

/** Iterates `it` until it ends, failing if that takes longer than `ms` (a feed that misses its abort hangs). */
async function drainWithin<T>(it: AsyncIterable<T>, onItem: (x: T) => void, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`feed still running ${ms} ms after the abort`)), ms);
  });
  try {
    await Promise.race([(async () => { for await (const x of it) onItem(x); })(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('changes(): an abort during catch-up ends the feed at once, mid-page, and the live phase never starts', async () => {
  const s = new Scratch();
  try {
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF }));
    // More than one catch-up page (200), so the abort falls inside a page.
    await sol.bulkPut(Array.from({ length: 450 }, (_, i) => ({ type: 'entry', id: `e${i}`, content: { i } })));
    const controller = new AbortController();
    const seen: string[] = [];
    await drainWithin(sol.changes({ live: true, signal: controller.signal }), (c) => {
      seen.push(c.id);
      if (seen.length === 10) controller.abort();
    }, 20_000);
    assert.equal(seen.length, 10, 'nothing is handed out after the abort');
    assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => `e${i}`));
  } finally {
    await s.cleanup();
  }
});

test('changes(): an abort on the last change of the catch-up ends a live feed (it used to wait for the next write)', async () => {
  const s = new Scratch();
  try {
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF }));
    await sol.bulkPut(Array.from({ length: 5 }, (_, i) => ({ type: 'entry', id: `e${i}`, content: { i } })));
    const controller = new AbortController();
    const seen: string[] = [];
    await drainWithin(sol.changes({ live: true, signal: controller.signal }), (c) => {
      seen.push(c.id);
      if (seen.length === 5) controller.abort();
    }, 20_000);
    assert.equal(seen.length, 5);
    // Also an already-aborted signal: nothing at all, and the feed ends.
    const none: string[] = [];
    await drainWithin(sol.changes({ live: true, signal: AbortSignal.abort() }), (c) => none.push(c.id), 20_000);
    assert.deepEqual(none, []);
  } finally {
    await s.cleanup();
  }
});

test('changes({ types }): only the wanted types, caught up and live; the others are skipped (still authenticated)', async () => {
  const s = new Scratch();
  try {
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF }));
    await sol.put('entry', 'e1', { n: 1 });
    await sol.put('structure', 's1', { big: 'x'.repeat(5000) });
    await sol.put('mailbox', 'INBOX', { name: 'INBOX' });
    await sol.put('entryish', 'x1', { n: 0 }); // a type whose name starts like a wanted one
    await sol.putBlob('b1', Buffer.from('blob bytes'));
    const types = ['entry', 'mailbox'];
    assert.deepEqual((await collect(sol.changes({ types }))).map((c) => [c.type, c.id, c.content]), [
      ['entry', 'e1', { n: 1 }],
      ['mailbox', 'INBOX', { name: 'INBOX' }],
    ]);
    const controller = new AbortController();
    const live: string[] = [];
    const following = drainWithin(sol.changes({ since: 'now', live: true, types, signal: controller.signal }), (c) => {
      live.push(`${c.type}/${c.id}`);
      if (c.id === 'e2') controller.abort();
    }, 20_000);
    await sol.put('structure', 's2', { n: 2 });
    await sol.delete('mailbox', 'INBOX');
    await sol.put('entry', 'e2', { n: 2 });
    await following;
    assert.deepEqual(live, ['mailbox/INBOX', 'entry/e2']);
  } finally {
    await s.cleanup();
  }
});
