// The in-process change fan-out (src/soledad/change-hub.ts): however many live
// readers a store has, each write costs one PouchDB changes() query, not one
// per reader; readers that join while writes go on miss nothing and get
// nothing twice; each reader gets its own copy of a change's content.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Soledad } from '../../src/soledad/index.js';
import { ChangeHub } from '../../src/soledad/change-hub.js';
import type { Pouch } from '../../src/soledad/pouch.js';
import type { DocChange } from '../../src/soledad/types.js';
import { Scratch, TEST_KDF } from './helpers.js';

const mainDbOf = (sol: Soledad): Pouch => (sol as unknown as { mainDb: Pouch }).mainDb;

/** Counts the changes() queries run on a database (PouchDB's live feeds call the instance method). */
function countQueries(db: Pouch): { readonly n: number } {
  const counter = { n: 0 };
  const original = db.changes.bind(db);
  (db as unknown as { changes: unknown }).changes = (...args: Parameters<Pouch['changes']>) => {
    counter.n++;
    return original(...args);
  };
  return counter;
}

async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Follows a live feed into `into` until aborted; resolves when the iterator ended. */
function follow(sol: Soledad, into: DocChange[], signal: AbortSignal, from: 'now' | 'start' = 'now'): Promise<void> {
  return (async () => {
    for await (const c of sol.changes({ ...(from === 'now' ? { since: 'now' } : {}), live: true, signal })) into.push(c);
  })();
}

test('many live readers share one changes query per write, and each gets every change', { timeout: 60_000 }, async () => {
  const s = new Scratch();
  try {
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF }));
    const db = mainDbOf(sol);
    const controller = new AbortController();
    const READERS = 6;
    const seen: DocChange[][] = Array.from({ length: READERS }, () => []);
    const following = seen.map((into) => follow(sol, into, controller.signal));
    const incoming = (async () => {
      for await (const _ of sol.incoming({ live: true, signal: controller.signal })) void _;
    })();
    await until('readers subscribed', () => ChangeHub.of(db).subscribers >= READERS + 2); // + incoming + conflict resolver
    const queries = countQueries(db);
    const WRITES = 40;
    for (let i = 0; i < WRITES; i++) await sol.put('entry', `e${i}`, { i });
    await until('every reader saw every write', () => seen.every((into) => into.length === WRITES));
    // Before the hub each of the 8 live feeds ran its own query per write (>= 320 here).
    assert.ok(queries.n <= 2 * WRITES, `${queries.n} changes() queries for ${WRITES} writes`);
    for (const into of seen) assert.deepEqual(into.map((c) => c.id), Array.from({ length: WRITES }, (_, i) => `e${i}`));
    // One decryption, but each reader its own content object.
    assert.deepEqual(seen[0]![0]!.content, { i: 0 });
    assert.notEqual(seen[0]![0]!.content, seen[1]![0]!.content);
    (seen[0]![0]!.content as { i: number }).i = 99;
    assert.deepEqual(seen[1]![0]!.content, { i: 0 });
    controller.abort();
    await Promise.all([...following, incoming]);
    assert.equal(ChangeHub.of(db).subscribers, 1, 'only the conflict resolver still listens');
  } finally {
    await s.cleanup();
  }
});

test('a reader that catches up while documents are written and rewritten misses none and gets none twice', { timeout: 60_000 }, async () => {
  const s = new Scratch();
  try {
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF }));
    await sol.bulkPut(Array.from({ length: 450 }, (_, i) => ({ type: 'entry', id: `e${i}`, content: { v: 0 } })));
    const IDS = 60;
    const ROUNDS = 4;
    // Writers: new documents and rewrites of existing ones, racing with the reader's catch-up pages.
    const writing = (async () => {
      for (let round = 1; round <= ROUNDS; round++) {
        for (let i = 0; i < IDS; i++) await sol.put('entry', `e${(i * 7) % 450}`, { v: round });
        await sol.put('entry', `new${round}`, { v: round });
      }
    })();
    const controller = new AbortController();
    const seen: DocChange[] = [];
    const reading = follow(sol, seen, controller.signal, 'start');
    await writing;
    const last = new Map<string, number>();
    for (let i = 0; i < 450; i++) last.set(`e${i}`, 0);
    for (let i = 0; i < IDS; i++) last.set(`e${(i * 7) % 450}`, ROUNDS);
    for (let r = 1; r <= ROUNDS; r++) last.set(`new${r}`, r);
    const latest = (): Map<string, number> => new Map(seen.map((c) => [c.id, (c.content as { v: number }).v]));
    await until('the reader reached every last write', () => [...last].every(([id, v]) => latest().get(id) === v)).catch((err: Error) => {
      const l = latest();
      const wrong = [...last].filter(([id, v]) => l.get(id) !== v).map(([id, v]) => `${id}: ${l.get(id)} not ${v}`);
      throw new Error(`${err.message}: ${wrong.slice(0, 10).join(', ')} (${wrong.length} wrong)`);
    });
    controller.abort();
    await reading;
    const seqs = seen.map((c) => Number(c.seq));
    assert.equal(new Set(seqs).size, seqs.length, 'no change handed out twice');
    assert.deepEqual([...seqs].sort((a, b) => a - b), seqs, 'seqs increase');
  } finally {
    await s.cleanup();
  }
});

test('closing the store ends live readers, and the hub stops its feed when the last one leaves', { timeout: 60_000 }, async () => {
  const s = new Scratch();
  try {
    const sol = await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF });
    const db = mainDbOf(sol);
    const seen: DocChange[] = [];
    const reading = follow(sol, seen, new AbortController().signal);
    await until('subscribed', () => ChangeHub.of(db).subscribers === 2);
    await sol.put('entry', 'x', { a: 1 });
    await until('the change', () => seen.length === 1);
    await sol.close();
    await reading;
    assert.equal(ChangeHub.of(db).subscribers, 0);
  } finally {
    await s.cleanup();
  }
});
