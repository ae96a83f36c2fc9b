// A burst of changes (a sync bringing thousands of documents) through the
// change hub (src/soledad/change-hub.ts): the hub reads in pages and reads
// on only while its readers keep up, so a reader that stops consuming holds
// the reading back instead of having the whole burst queued for it; once it
// reads again every change reaches every reader, once and in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Soledad } from '../../src/soledad/index.js';
import { ChangeHub, HUB_READ_AHEAD } from '../../src/soledad/change-hub.js';
import type { Pouch } from '../../src/soledad/pouch.js';
import type { DocChange } from '../../src/soledad/types.js';
import { Scratch, TEST_KDF } from './helpers.js';

const mainDbOf = (sol: Soledad): Pouch => (sol as unknown as { mainDb: Pouch }).mainDb;

async function until(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a burst is read only as far ahead as the slowest live reader allows, and then reaches every reader once, in order', { timeout: 120_000 }, async () => {
  const s = new Scratch();
  try {
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF }));
    const hub = ChangeHub.of(mainDbOf(sol));
    const controller = new AbortController();
    const fast: DocChange[] = [];
    const slow: DocChange[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const fastReading = (async () => {
      for await (const c of sol.changes({ since: 'now', live: true, signal: controller.signal })) fast.push(c);
    })();
    const slowReading = (async () => {
      for await (const c of sol.changes({ since: 'now', live: true, signal: controller.signal })) {
        slow.push(c);
        if (slow.length === 1) await released; // stops consuming after the first change
      }
    })();
    await until('both readers subscribed', () => hub.subscribers >= 3); // + the conflict resolver
    const BURST = 8000;
    for (let start = 0; start < BURST; start += 1000) {
      await sol.bulkPut(Array.from({ length: 1000 }, (_, i) => ({ type: 'entry', id: `e${start + i}`, content: { n: start + i } })));
    }
    // The slow reader holds at most its backlog plus one page: the hub stops there.
    const bound = 1 + HUB_READ_AHEAD.backlog + HUB_READ_AHEAD.page;
    await until('the hub reached the slow reader\'s bound', () => hub.delivered >= HUB_READ_AHEAD.backlog);
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(hub.delivered <= bound, `${hub.delivered} changes read ahead of a reader that took 1 (bound ${bound})`);
    assert.equal(fast.length, hub.delivered, 'the fast reader has everything read so far');
    release();
    await until('both readers got the whole burst', () => fast.length === BURST && slow.length === BURST);
    controller.abort();
    await Promise.all([fastReading, slowReading]);
    for (const seen of [fast, slow]) {
      assert.deepEqual(seen.map((c) => c.id), Array.from({ length: BURST }, (_, i) => `e${i}`));
      const seqs = seen.map((c) => Number(c.seq));
      assert.equal(new Set(seqs).size, BURST, 'no change twice');
    }
    assert.equal(hub.delivered, BURST);
  } finally {
    await s.cleanup();
  }
});
