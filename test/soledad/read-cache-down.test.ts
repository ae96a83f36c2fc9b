// The read cache in front of a local database's LevelDB
// (src/soledad/read-cache-down.ts), over a real LevelDB: a get answers what
// LevelDB holds, never a value of a write that is still in flight, failed,
// or overlapped with another write of the same key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promisify } from 'node:util';
import { ReadCacheDown } from '../../src/soledad/read-cache-down.js';
import type { Callback, Down } from '../../src/soledad/down.js';
import { reopenableLeveldown } from '../../src/soledad/reopenable-leveldown.js';
import { Scratch } from './helpers.js';

const DOC = '\xffdocument-store\xff';
const SEQ = '\xffby-sequence\xff';
const BINARY = '\xffattach-binary-store\xff';

type Op = { type: 'put' | 'del'; key: string; value?: string };

/** Promise forms of the handle's calls (levelup's options: JSON values come back as strings). */
function client(down: Down) {
  const asString = { asBuffer: false };
  return {
    open: () => promisify<object, void>((o, cb) => down.open(o, cb as Callback))({ createIfMissing: true }),
    close: () => promisify<void>((cb) => down.close(cb as Callback))(),
    batch: (ops: Op[]) => promisify<unknown[], object, void>((o, opts, cb) => down.batch(o, opts, cb as Callback))(ops, {}),
    put: (key: string, value: string) => promisify<unknown, unknown, object, void>((k, v, o, cb) => down.put(k, v, o, cb as Callback))(key, value, {}),
    del: (key: string) => promisify<unknown, object, void>((k, o, cb) => down.del(k, o, cb as Callback))(key, {}),
    /** The value, or undefined when LevelDB has none. */
    get: (key: string, options: object = asString) =>
      new Promise<unknown>((resolve, reject) =>
        down.get(key, options, (err, value) => (err ? (/NotFound/i.test(err.message) ? resolve(undefined) : reject(err)) : resolve(value))),
      ),
  };
}

/** A LevelDB handle whose writes wait until released (or fail), to hold a write in flight. */
function heldWrites(inner: Down) {
  const held: Array<{ run: () => void; fail: () => void }> = [];
  const down: Down = {
    get status() {
      return inner.status;
    },
    get supports() {
      return inner.supports;
    },
    open: (options, cb) => inner.open(options, cb),
    close: (cb) => inner.close(cb),
    put: (key, value, options, cb) => inner.put(key, value, options, cb),
    get: (key, options, cb) => inner.get(key, options, cb),
    del: (key, options, cb) => inner.del(key, options, cb),
    clear: (options, cb) => inner.clear(options, cb),
    iterator: (options) => inner.iterator(options),
    batch: (ops, options, cb) => {
      held.push({ run: () => inner.batch(ops, options, cb), fail: () => cb(new Error('IO error: injected')) });
    },
  };
  return { down, held };
}

async function withCache(fn: (cache: ReadCacheDown, s: Scratch) => Promise<void>, wrap: (d: Down) => Down = (d) => d): Promise<void> {
  const s = new Scratch();
  const cache = new ReadCacheDown(wrap(reopenableLeveldown(s.dir())));
  await client(cache).open();
  try {
    await fn(cache, s);
  } finally {
    await client(cache).close();
    await s.cleanup();
  }
}

test('every get answers what LevelDB holds, through random writes and reads of cached and uncached keys', { timeout: 60_000 }, async () => {
  await withCache(async (cache) => {
    const db = client(cache);
    const direct = client(cache.inner);
    const model = new Map<string, string>();
    const keys = Array.from({ length: 120 }, (_, i) => `${[DOC, SEQ, BINARY][i % 3]}k${i}`);
    let seed = 7;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let step = 0; step < 400; step++) {
      // A group of operations at once, on distinct keys (so each one's outcome is defined).
      const picked = [...new Set(Array.from({ length: 1 + rand(8) }, () => keys[rand(keys.length)]!))];
      await Promise.all(
        picked.map(async (key) => {
          const what = rand(10);
          if (what < 4) {
            const got = await db.get(key);
            assert.equal(got, model.get(key), `get ${JSON.stringify(key)} at step ${step}`);
          } else if (what < 7) {
            const value = JSON.stringify({ step, key, pad: 'x'.repeat(rand(200)) });
            model.set(key, value);
            await (what === 4 ? db.put(key, value) : db.batch([{ type: 'put', key, value }]));
          } else if (what < 9) {
            model.delete(key);
            await (what === 7 ? db.del(key) : db.batch([{ type: 'del', key }]));
          } else {
            // A batch that writes the key twice: the second value is what stays.
            const value = `last-${step}`;
            model.set(key, value);
            await db.batch([{ type: 'put', key, value: 'first' }, { type: 'put', key, value }]);
          }
        }),
      );
    }
    for (const key of keys) {
      assert.equal(await db.get(key), model.get(key), `final ${JSON.stringify(key)}`);
      assert.equal(await direct.get(key), model.get(key), `LevelDB itself, ${JSON.stringify(key)}`);
    }
    assert.ok(cache.counts.hits > 50, `served from memory: ${cache.counts.hits}`);
    assert.ok(cache.counts.misses > 20, `read from LevelDB: ${cache.counts.misses}`);
  });
});

test('a value is served from memory only once its write has completed, as LevelDB\'s own get would return it', { timeout: 30_000 }, async () => {
  let held: ReturnType<typeof heldWrites>['held'] = [];
  await withCache(
    async (cache) => {
      const db = client(cache);
      const key = `${DOC}doc-1`;
      const first = db.batch([{ type: 'put', key, value: '"v1"' }]);
      held.shift()!.run();
      await first;
      const hits = cache.counts.hits;
      assert.equal(await db.get(key), '"v1"');
      assert.equal(cache.counts.hits, hits + 1, 'a completed write is served from memory');
      assert.ok(Buffer.from('"v1"').equals((await db.get(key, {})) as Buffer), 'as a Buffer unless a string is asked for');

      // In flight: LevelDB answers (it still holds v1), not the cache.
      const second = db.batch([{ type: 'put', key, value: '"v2"' }]);
      const misses = cache.counts.misses;
      assert.equal(await db.get(key), '"v1"');
      assert.equal(cache.counts.misses, misses + 1);
      held.shift()!.run();
      await second;
      assert.equal(await db.get(key), '"v2"');

      // A failed write leaves the cache out: the next get reads LevelDB.
      const failing = db.batch([{ type: 'put', key, value: '"never"' }]);
      held.shift()!.fail();
      await assert.rejects(failing, /injected/);
      const before = cache.counts.misses;
      assert.equal(await db.get(key), '"v2"');
      assert.equal(cache.counts.misses, before + 1);

      // Two overlapping writes of one key, applied by LevelDB in the other order: the
      // later call did not win, and the cache must not claim it did.
      const a = db.batch([{ type: 'put', key, value: '"a"' }]);
      const b = db.batch([{ type: 'put', key, value: '"b"' }]);
      const [heldA, heldB] = [held.shift()!, held.shift()!];
      heldB.run();
      await b;
      heldA.run();
      await a;
      const afterOverlap = cache.counts.misses;
      assert.equal(await db.get(key), '"a"');
      assert.equal(cache.counts.misses, afterOverlap + 1, 'read from LevelDB after an overlap');
    },
    (inner) => {
      const h = heldWrites(inner);
      held = h.held;
      return h.down;
    },
  );
});

test('after a clear nothing cleared is served from memory', { timeout: 30_000 }, async () => {
  await withCache(async (cache) => {
    const db = client(cache);
    const key = `${DOC}cleared`;
    await db.batch([{ type: 'put', key, value: '"here"' }]);
    assert.equal(await db.get(key), '"here"');
    await promisify<object, void>((o, cb) => cache.clear(o, cb as Callback))({});
    assert.equal(await db.get(key), undefined);
    assert.equal(cache.size, 0);
  });
});

test('attachment data and other sublevels are never cached', { timeout: 30_000 }, async () => {
  await withCache(async (cache) => {
    const db = client(cache);
    await db.batch([
      { type: 'put', key: `${BINARY}md5-x`, value: 'data' },
      { type: 'put', key: '\xfflocal-store\xff_local/x', value: '{}' },
      { type: 'put', key: `${DOC}big`, value: 'x'.repeat(70 * 1024) },
    ]);
    assert.equal(cache.size, 0);
    assert.equal(await db.get(`${BINARY}md5-x`), 'data');
    assert.equal((await db.get(`${DOC}big`)) as string, 'x'.repeat(70 * 1024));
    assert.equal(cache.counts.hits, 0);
  });
});
