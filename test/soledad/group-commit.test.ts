// Group commit on local databases (src/soledad/pouch.ts): writes made while
// one is in flight go together as one PouchDB bulkDocs, and each caller still
// gets exactly its own outcome (success, conflict, a bad request's error).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openLocal, isConflict, isNotFound, type Pouch } from '../../src/soledad/pouch.js';
import { Scratch } from './helpers.js';

/** Counts the adapter's own write batches (below the grouping). */
function countBatches(db: Pouch): { readonly n: number } {
  const counter = { n: 0 };
  const inner = db as unknown as { _bulkDocs: (...a: unknown[]) => unknown };
  const original = inner._bulkDocs.bind(db);
  inner._bulkDocs = (...args: unknown[]) => {
    counter.n++;
    return original(...args);
  };
  return counter;
}

test('concurrent writes share batches, commit in call order, and each gets its own result', { timeout: 60_000 }, async () => {
  const s = new Scratch();
  const db = openLocal(s.dir(), 'db');
  try {
    const batches = countBatches(db);
    const N = 60;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => db.put({ _id: `d${String(i).padStart(3, '0')}`, i })));
    assert.equal(results.length, N);
    assert.ok(results.every((r) => r.ok));
    assert.ok(batches.n < N / 4, `${batches.n} batches for ${N} concurrent puts`);
    // Commit order is call order.
    const changes = await db.changes({ since: 0 });
    assert.deepEqual(changes.results.map((c) => c.id), Array.from({ length: N }, (_, i) => `d${String(i).padStart(3, '0')}`));

    // Two creations of one id at once: the second is a conflict, as with sequential puts.
    const [first, second] = await Promise.allSettled([db.put({ _id: 'same', v: 1 }), db.put({ _id: 'same', v: 2 })]);
    assert.equal(first.status, 'fulfilled');
    assert.equal(second.status, 'rejected');
    assert.ok(isConflict((second as PromiseRejectedResult).reason));
    assert.equal(((await db.get('same')) as unknown as { v: number }).v, 1);

    // A stale rev conflicts alone; its neighbours in the batch are written.
    const cur = await db.get('d000');
    const [stale, fresh, other] = await Promise.allSettled([
      db.put({ _id: 'd001', _rev: cur._rev, x: 1 }),
      db.put({ ...cur, x: 2 }),
      db.put({ _id: 'new-one' }),
    ]);
    assert.ok(stale.status === 'rejected' && isConflict(stale.reason));
    assert.equal(fresh.status, 'fulfilled');
    assert.equal(other.status, 'fulfilled');

    // A malformed request fails alone (the batch is retried call by call).
    const [bad, good] = await Promise.allSettled([
      db.bulkDocs([{ _id: 'bad', _rev: 'not-a-rev' }]),
      db.bulkDocs([{ _id: 'good' }]),
      db.put({ _id: 'filler' }),
    ]);
    assert.equal(bad.status, 'rejected');
    assert.equal(good.status, 'fulfilled');
    assert.ok(await db.get('good'));
    await assert.rejects(db.get('bad'), (err) => isNotFound(err));

    // remove() of a deleted document still fails (404), grouped or not.
    const doc = await db.get('new-one');
    await db.remove(doc);
    const again = await Promise.allSettled([db.remove(doc._id, doc._rev), db.put({ _id: 'during-remove' })]);
    assert.equal(again[0].status, 'rejected');
    assert.equal(again[1].status, 'fulfilled');

    // Replication-style writes (new_edits: false) and _local docs pass through.
    await db.bulkDocs([{ _id: 'replicated', _rev: '1-abc', v: 1 }], { new_edits: false });
    assert.equal((await db.get('replicated'))._rev, '1-abc');
    await db.put({ _id: '_local/checkpoint', seq: 3 });
    assert.equal(((await db.get('_local/checkpoint')) as unknown as { seq: number }).seq, 3);
  } finally {
    await db.close();
    await s.cleanup();
  }
});

test('writes made before a new handle is ready get their results, by promise and by callback', { timeout: 30_000 }, async () => {
  const s = new Scratch();
  const db = openLocal(s.dir(), 'db');
  try {
    // PouchDB queues these until the database is open and replays them then.
    const viaCallback = new Promise<unknown>((resolve, reject) =>
      (db.bulkDocs as unknown as (docs: object[], opts: object, cb: (err: unknown, res: unknown) => void) => void)([{ _id: 'cb' }], {}, (err, res) => (err ? reject(err) : resolve(res))),
    );
    const [first, second] = await Promise.all([db.bulkDocs([{ _id: 'a' }, { _id: 'b' }]), db.put({ _id: 'c' }), viaCallback]);
    assert.deepEqual(first.map((r) => ('ok' in r ? r.id : r)), ['a', 'b']);
    assert.equal(second.id, 'c');
    assert.deepEqual(((await viaCallback) as Array<{ id: string }>).map((r) => r.id), ['cb']);
  } finally {
    await db.close();
    await s.cleanup();
  }
});
