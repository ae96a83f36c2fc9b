import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HybridLogicalClock, compareHlc, Soledad } from '../../src/soledad/index.js';
import { Scratch, TEST_KDF, createDb } from './helpers.js';

// A flags-like sample type: per-flag last-writer-wins by HLC, expunge wins.
interface Flags {
  flags: Record<string, { on: boolean; at: string }>;
  expunged: boolean;
}

function mergeFlags(a: Flags, b: Flags): Flags {
  const flags: Flags['flags'] = {};
  for (const name of new Set([...Object.keys(a.flags), ...Object.keys(b.flags)])) {
    const x = a.flags[name];
    const y = b.flags[name];
    flags[name] = !x ? y! : !y ? x : compareHlc(x.at, y.at) >= 0 ? x : y;
  }
  return { flags, expunged: a.expunged || b.expunged };
}

const resolvedCount = (d: Device): number => (d.sol as unknown as { resolver: { resolved: number } }).resolver.resolved;

type Device = { sol: Soledad; clock: HybridLogicalClock };

async function setFlag(d: Device, id: string, name: string, on: boolean): Promise<void> {
  const cur = (await d.sol.get<Flags>('flags', id)) ?? { flags: {}, expunged: false };
  for (const f of Object.values(cur.flags)) d.clock.update(f.at);
  await d.sol.put<Flags>('flags', id, { ...cur, flags: { ...cur.flags, [name]: { on, at: d.clock.now() } } });
}

async function twoDevices(s: Scratch): Promise<[Device, Device, () => Promise<number>, string]> {
  const couch = await s.couch();
  const url = await createDb(couch, 'alice');
  const a = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF, remote: { url }, liveSync: false }));
  await a.syncOnce();
  const b = s.defer(await Soledad.restore({ dataDir: s.dir(), passphrase: 'pw', remote: { url }, liveSync: false }));
  for (const sol of [a, b]) sol.registerMerge<Flags>('flags', mergeFlags, { isTombstone: (c) => c.expunged });
  // Leaves (live or sealed-deleted) still open for a doc on the server.
  const serverLeaves = async (): Promise<number> => {
    const all = await (await fetch(`${url}/_all_docs`)).json();
    let n = 0;
    for (const row of all.rows as Array<{ id: string }>) {
      const doc = await (await fetch(`${url}/${row.id}?conflicts=true`)).json();
      n += (doc._conflicts ?? []).length;
    }
    return n;
  };
  return [
    { sol: a, clock: new HybridLogicalClock('devA') },
    { sol: b, clock: new HybridLogicalClock('devB') },
    serverLeaves,
    url,
  ];
}

const orders: Array<{ name: string; run: (a: Soledad, b: Soledad) => Promise<void> }> = [
  { name: 'A then B', run: async (a, b) => { await a.syncOnce(); await b.syncOnce(); await a.syncOnce(); await b.syncOnce(); } },
  { name: 'B then A', run: async (a, b) => { await b.syncOnce(); await a.syncOnce(); await b.syncOnce(); await a.syncOnce(); } },
  {
    name: 'both at once',
    run: async (a, b) => {
      for (let i = 0; i < 3; i++) await Promise.all([a.syncOnce(), b.syncOnce()]);
      await a.syncOnce();
      await b.syncOnce();
    },
  },
];

for (const order of orders) {
  test(`two devices with concurrent edits of the same documents converge (${order.name})`, async () => {
    const s = new Scratch();
    try {
      const [A, B, serverConflicts] = await twoDevices(s);
      for (const id of ['m1', 'm2']) await setFlag(A, id, '\\Seen', false);
      await A.sol.syncOnce();
      await B.sol.syncOnce();

      // Concurrent, offline edits of the same documents on both devices.
      await setFlag(A, 'm1', '\\Seen', true);
      await setFlag(B, 'm1', '\\Flagged', true);
      await setFlag(A, 'm2', '\\Answered', true);
      await setFlag(B, 'm2', '\\Seen', true);
      // Plain (non-merged) type: the deterministic winner must be the same on both.
      await A.sol.put('note', 'n', { by: 'A' });
      await B.sol.put('note', 'n', { by: 'B' });

      await order.run(A.sol, B.sol);

      for (const id of ['m1', 'm2']) {
        const a = await A.sol.get<Flags>('flags', id);
        const b = await B.sol.get<Flags>('flags', id);
        assert.deepEqual(a, b, `${id} converged`);
      }
      const m1 = (await A.sol.get<Flags>('flags', 'm1'))!;
      assert.equal(m1.flags['\\Seen']!.on, true, 'A set \\Seen on m1');
      assert.equal(m1.flags['\\Flagged']!.on, true, 'B set \\Flagged on m1: both edits kept');
      const m2 = (await A.sol.get<Flags>('flags', 'm2'))!;
      assert.equal(m2.flags['\\Seen']!.on, true);
      assert.deepEqual(await A.sol.get('note', 'n'), await B.sol.get('note', 'n'));
      assert.equal(await serverConflicts(), 0, 'no conflicting revisions left on the server');
      assert.ok(resolvedCount(A) + resolvedCount(B) >= 3, 'the conflicts really happened and were merged');
    } finally {
      await s.cleanup();
    }
  });
}

test('an expunge is never resurrected by a concurrent edit, nor a delete of a tombstone type', async () => {
  const s = new Scratch();
  try {
    const [A, B, serverConflicts] = await twoDevices(s);
    await setFlag(A, 'x', '\\Seen', true);
    await setFlag(A, 'y', '\\Seen', true);
    await A.sol.syncOnce();
    await B.sol.syncOnce();

    // A expunges x (tombstone content) and deletes y; B, offline, keeps editing both, twice.
    const x = (await A.sol.get<Flags>('flags', 'x'))!;
    await A.sol.put<Flags>('flags', 'x', { ...x, expunged: true });
    await A.sol.delete('flags', 'y');
    for (let i = 0; i < 2; i++) {
      await setFlag(B, 'x', '\\Flagged', i === 0);
      await setFlag(B, 'y', '\\Flagged', i === 0);
    }

    await B.sol.syncOnce(); // B's edits reach the server first
    await A.sol.syncOnce();
    await B.sol.syncOnce();
    await A.sol.syncOnce();

    for (const d of [A, B]) {
      assert.equal((await d.sol.get<Flags>('flags', 'x'))?.expunged, true);
      assert.equal(await d.sol.get('flags', 'y'), null, 'deleted stays deleted');
    }
    assert.equal(await serverConflicts(), 0);
  } finally {
    await s.cleanup();
  }
});

test('three devices editing one document concurrently converge to the merge of all three edits', async () => {
  const s = new Scratch();
  try {
    const [A, B, serverConflicts, url] = await twoDevices(s);
    const c = s.defer(await Soledad.restore({ dataDir: s.dir(), passphrase: 'pw', remote: { url }, liveSync: false }));
    c.registerMerge<Flags>('flags', mergeFlags, { isTombstone: (x) => x.expunged });
    const C: Device = { sol: c, clock: new HybridLogicalClock('devC') };
    await setFlag(A, 'm', '\\Seen', false);
    for (const d of [A, B, C]) await d.sol.syncOnce();

    await setFlag(A, 'm', '\\Seen', true);
    await setFlag(B, 'm', '\\Flagged', true);
    await setFlag(C, 'm', '$Label1', true);
    for (const order of [[C, A, B], [B, C, A], [A, B, C]]) for (const d of order) await d.sol.syncOnce();

    const results = await Promise.all([A, B, C].map((d) => d.sol.get<Flags>('flags', 'm')));
    assert.deepEqual(results[0], results[1]);
    assert.deepEqual(results[1], results[2]);
    assert.deepEqual(Object.entries(results[0]!.flags).map(([k, v]) => [k, v.on]).sort(), [['$Label1', true], ['\\Flagged', true], ['\\Seen', true]]);
    assert.equal(await serverConflicts(), 0);
  } finally {
    await s.cleanup();
  }
});
