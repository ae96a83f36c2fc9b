// Gets of one tick read in one getMany (src/soledad/get-batching-down.ts),
// over a real LevelDB: each get answers exactly what a get of its own would
// (value, type, not found), and only runs of small-value gets are grouped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promisify } from 'node:util';
import type { Callback, Down } from '../../src/soledad/down.js';
import { GetBatchingDown } from '../../src/soledad/get-batching-down.js';
import { reopenableLeveldown } from '../../src/soledad/reopenable-leveldown.js';
import { openLocal } from '../../src/soledad/pouch.js';
import { Scratch } from './helpers.js';

const DOC = '\xffdocument-store\xff';
const BINARY = '\xffattach-binary-store\xff';

/** A handle that counts the native calls it passes on, and can make getMany fail. */
function counting(inner: Down) {
  const calls = { get: 0, getMany: [] as number[] };
  const state = { failGetMany: false };
  const down: Down = Object.assign(Object.create(null) as Down, {
    get status() {
      return inner.status;
    },
    get supports() {
      return inner.supports;
    },
    open: (o: object, cb: Callback) => inner.open(o, cb),
    close: (cb: Callback) => inner.close(cb),
    put: (k: unknown, v: unknown, o: object, cb: Callback) => inner.put(k, v, o, cb),
    del: (k: unknown, o: object, cb: Callback) => inner.del(k, o, cb),
    batch: (ops: unknown[], o: object, cb: Callback) => inner.batch(ops, o, cb),
    clear: (o: object, cb: Callback) => inner.clear(o, cb),
    iterator: (o: object) => inner.iterator(o),
    get: (k: unknown, o: object, cb: Callback) => {
      calls.get++;
      inner.get(k, o, cb);
    },
    getMany: (keys: unknown[], o: object, cb: Callback) => {
      calls.getMany.push(keys.length);
      if (state.failGetMany) process.nextTick(cb, new Error('IO error: injected'));
      else inner.getMany!(keys, o, cb);
    },
  });
  return { down, calls, state };
}

/** What a get calls back with: the value, or the error's message. */
const answer = (down: Down, key: string, options: object): Promise<{ value?: unknown; error?: string }> =>
  new Promise((resolve) => down.get(key, options, (err, value) => resolve(err ? { error: err.message } : { value })));

async function withStore(fn: (batching: GetBatchingDown, plain: Down, counted: ReturnType<typeof counting>) => Promise<void>): Promise<void> {
  const s = new Scratch();
  const plain = reopenableLeveldown(s.dir());
  const counted = counting(plain);
  const batching = new GetBatchingDown(counted.down);
  await promisify<object, void>((o, cb) => batching.open(o, cb as Callback))({ createIfMissing: true });
  try {
    await fn(batching, plain, counted);
  } finally {
    await promisify<void>((cb) => batching.close(cb as Callback))();
    await s.cleanup();
  }
}

test('gets of one tick are one getMany and each answers as its own get would', async () => {
  await withStore(async (batching, plain, { calls }) => {
    const ops = Array.from({ length: 30 }, (_, i) => ({ type: 'put', key: `${DOC}k${i}`, value: `{"n":${i}}` }));
    await promisify<unknown[], object, void>((o, opts, cb) => batching.batch(o, opts, cb as Callback))(ops, {});
    // Present and missing keys, JSON (string) and Buffer reads, interleaved in one tick.
    const keys = Array.from({ length: 40 }, (_, i) => `${DOC}k${i}`);
    const asString = { asBuffer: false };
    const asBuffer = {};
    const batched = await Promise.all(keys.flatMap((k) => [answer(batching, k, asString), answer(batching, k, asBuffer)]));
    const single: Array<{ value?: unknown; error?: string }> = [];
    for (const k of keys) single.push(await answer(plain, k, asString), await answer(plain, k, asBuffer));
    assert.deepEqual(batched, single);
    assert.equal(typeof batched[0]!.value, 'string');
    assert.ok(Buffer.isBuffer(batched[1]!.value));
    assert.match(batched[79]!.error ?? '', /NotFound/i);
    // Two option sets → two runs of 40; none went one key at a time.
    assert.deepEqual(calls.getMany.sort(), [40, 40]);
    assert.equal(calls.get, 0);
    assert.equal(batching.counts.keys, 80);
  });
});

test('a lone get, attachment data and runs past 64 keys are read as before', async () => {
  await withStore(async (batching, _plain, { calls }) => {
    await answer(batching, `${DOC}alone`, {});
    await answer(batching, `${DOC}alone-again`, {});
    assert.deepEqual([calls.get, calls.getMany.length], [2, 0]);
    // Attachment bodies (up to 128 KiB) go key by key, so large reads run on several pool threads.
    await Promise.all(Array.from({ length: 10 }, (_, i) => answer(batching, `${BINARY}md5-${i}`, {})));
    assert.deepEqual([calls.get, calls.getMany.length], [12, 0]);
    await Promise.all(Array.from({ length: 150 }, (_, i) => answer(batching, `${DOC}many${i}`, {})));
    assert.deepEqual(calls.getMany, [64, 64, 22]);
  });
});

test('gets asked for right before close are still read', async () => {
  const s = new Scratch();
  const batching = new GetBatchingDown(reopenableLeveldown(s.dir()));
  try {
    await promisify<object, void>((o, cb) => batching.open(o, cb as Callback))({ createIfMissing: true });
    await promisify<unknown, unknown, object, void>((k, v, o, cb) => batching.put(k, v, o, cb as Callback))(`${DOC}x`, 'v', {});
    const reads = Promise.all(Array.from({ length: 3 }, () => answer(batching, `${DOC}x`, { asBuffer: false })));
    const closed = promisify<void>((cb) => batching.close(cb as Callback))();
    assert.deepEqual(await reads, Array.from({ length: 3 }, () => ({ value: 'v' })));
    await closed;
  } finally {
    await s.cleanup();
  }
});

test('a failed getMany fails every get it carried, and later gets work', async () => {
  await withStore(async (batching, _plain, { state }) => {
    await promisify<unknown, unknown, object, void>((k, v, o, cb) => batching.put(k, v, o, cb as Callback))(`${DOC}x`, 'v', {});
    state.failGetMany = true;
    const failed = await Promise.all(Array.from({ length: 5 }, () => answer(batching, `${DOC}x`, { asBuffer: false })));
    assert.deepEqual(failed, Array.from({ length: 5 }, () => ({ error: 'IO error: injected' })));
    state.failGetMany = false;
    const ok = await Promise.all(Array.from({ length: 5 }, () => answer(batching, `${DOC}x`, { asBuffer: false })));
    assert.deepEqual(ok, Array.from({ length: 5 }, () => ({ value: 'v' })));
  });
});

test('PouchDB over it: documents read in parallel come back, missing ones are 404', async () => {
  const s = new Scratch();
  const db = openLocal(s.dir(), 'batching');
  try {
    const docs = Array.from({ length: 50 }, (_, i) => ({ _id: `d${i}`, n: i }));
    const written = await db.bulkDocs(docs);
    assert.ok(written.every((r) => 'ok' in r && r.ok));
    const reads = await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        db.get(`d${i}`).then(
          (d) => d.n,
          (err: { status?: number }) => err.status,
        ),
      ),
    );
    assert.deepEqual(reads, Array.from({ length: 80 }, (_, i) => (i < 50 ? i : 404)));
    // A second write of the same ids is a conflict: bulkDocs read their metadata (through getMany) and saw them.
    const again = await db.bulkDocs(docs);
    assert.ok(again.every((r) => 'error' in r && r.status === 409));
  } finally {
    await db.close();
    await s.cleanup();
  }
});
