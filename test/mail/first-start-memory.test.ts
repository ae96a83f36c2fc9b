// Memory a first start leaves behind (issue 4, issue 9 figure 7). Building
// the mail index from the store reads every entry document; LevelDB reads its
// table files through mmap and keeps each mapped while the table is open, so
// the whole store stayed in the daemon's RSS until a restart. The store's
// databases are reopened, once idle (src/soledad/reopenable-leveldown.ts
// release), every 20,000 changes of the build and after a build of at least
// 10,000 changes. The mapped bytes are read
// from /proc/self/smaps for the test's own store directory: what LevelDB
// mapped, whatever the machine's load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Soledad } from '../../src/soledad/index.js';
import { releaseMappedTables, reopenableLeveldown } from '../../src/soledad/reopenable-leveldown.js';
import { openMailStore, MAIL_MERGE_RULES } from '../../src/mail/store/index.js';
import type { EntryDoc } from '../../src/mail/store/documents.js';
import { defaultMailboxId } from '../../src/mail/store/ids.js';
import { Scratch, TEST_KDF } from '../soledad/helpers.js';

const linux = fs.existsSync('/proc/self/smaps');
const MB = 1024 * 1024;

/** Resident bytes of this process's mappings of files under `dir`. */
function mappedBytesUnder(dir: string): number {
  let total = 0;
  let inDir = false;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) inDir = head[1]!.startsWith(dir + path.sep);
    else if (inDir && line.startsWith('Rss:')) total += Number(/(\d+)/.exec(line)![1]) * 1024;
  }
  return total;
}

async function poll(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  return pollAsync(what, async () => cond(), ms);
}

async function pollAsync(what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function entries(start: number, end: number): Array<{ type: 'entry'; id: string; content: EntryDoc }> {
  const out: Array<{ type: 'entry'; id: string; content: EntryDoc }> = [];
  for (let i = start; i < end; i++) {
    const content: EntryDoc = {
      v: 1,
      mailbox: defaultMailboxId('INBOX'),
      hash: i.toString(16).padStart(64, '0'),
      size: 1000 + i,
      internalDate: 1_700_000_000_000 + i * 1000,
      flags: i % 3 ? { '\\Seen': [1, `${1_700_000_000_000 + i}.000000.testnode`] } : {},
      expunged: null,
    };
    out.push({ type: 'entry', id: `e-${i}`, content });
  }
  return out;
}

test('a first start builds the index from 12,000 entries, releasing the table files it mapped as it goes and at the end', { skip: !linux && 'needs /proc/self/smaps' }, async () => {
  const s = new Scratch();
  try {
    const dir = s.dir();
    const sol1 = await Soledad.create({ dataDir: dir, passphrase: 'pw', kdf: TEST_KDF });
    for (let i = 0; i < 12_000; i += 1000) await sol1.bulkPut(entries(i, i + 1000));
    await sol1.close();
    const mainDir = path.join(dir, 'main');
    assert.equal(mappedBytesUnder(mainDir), 0, 'closed: nothing mapped');

    // A first start: no snapshot, so every entry document is read.
    const sol = s.defer(await Soledad.open({ dataDir: dir, passphrase: 'pw' }));
    sol.registerMerge('entry', MAIL_MERGE_RULES.entry);
    sol.registerMerge('mailbox', MAIL_MERGE_RULES.mailbox);
    // Each call: tries, mapped before it, whether it released, mapped after it.
    const calls: Array<{ tries: number; before: number; released: boolean; after: number }> = [];
    const mail = s.defer(
      await openMailStore({
        docs: sol,
        local: sol.local,
        warmSummaries: false,
        releaseEvery: 4000,
        releaseMappedFiles: async (tries) => {
          const call = { tries, before: mappedBytesUnder(mainDir), released: false, after: -1 };
          calls.push(call);
          call.released = await sol.releaseMappedFiles(tries);
          call.after = mappedBytesUnder(mainDir);
        },
      }),
    );
    const during = calls.filter((c) => c.tries === 1);
    assert.ok(during.length >= 2, `released during the build: ${during.length} times`);
    for (const c of during) {
      assert.equal(c.released, true, 'nothing else held the store during the build');
      assert.ok(c.before > MB, `the build read the store through mmap: ${(c.before / MB).toFixed(1)} MB mapped`);
      assert.ok(c.after < MB, `after a release during the build: ${(c.after / MB).toFixed(1)} MB still mapped (was ${(c.before / MB).toFixed(1)})`);
    }
    // Once built (12,000 changes >= 10,000): one more release, not awaited by the open, trying harder.
    await poll('the release after the build', () => calls.some((c) => c.tries === 10 && c.after >= 0));
    const last = calls.find((c) => c.tries === 10)!;
    assert.equal(last.released, true);
    assert.ok(last.after < MB, `after the release: ${(last.after / MB).toFixed(1)} MB of the store still mapped (was ${(last.before / MB).toFixed(1)})`);

    // The store works on the reopened databases: reads, writes, the live feed.
    const inbox = await mail.messages('INBOX');
    assert.equal(inbox.messages.length, 12_000);
    await mail.storeFlags('INBOX', [inbox.messages[0]!.uid], 'add', ['\\Flagged']);
    // Written by 'another device' (straight into the store): it reaches the index through the feed.
    await sol.bulkPut(entries(12_000, 12_001));
    await pollAsync('the new entry in the index', async () => (await mail.status('INBOX')).messages === 12_001);
    const after = await mail.messages('INBOX');
    assert.ok(after.messages[0]!.flags.includes('\\Flagged'));
  } finally {
    await s.cleanup();
  }
});

type Cb = (err?: Error | null, ...rest: unknown[]) => void;
interface RawDown {
  open(o: object, cb: Cb): void;
  close(cb: Cb): void;
  put(k: string, v: string, o: object, cb: Cb): void;
  get(k: string, o: object, cb: Cb): void;
  iterator(o: object): { next(cb: Cb): void; end(cb: Cb): void };
}
const call = <T = unknown>(fn: (cb: Cb) => void): Promise<T> => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));

test('release waits for iterators already started and holds new operations; one that stays busy is left as it is', async () => {
  const s = new Scratch();
  const location = path.join(s.dir(), 'db');
  const db = reopenableLeveldown(location) as unknown as RawDown;
  try {
    await call((cb) => db.open({}, cb));
    for (let i = 0; i < 50; i++) await call((cb) => db.put(`k${String(i).padStart(3, '0')}`, `v${i}`, {}, cb));

    // An iterator is reading: the release waits for it; it reads on meanwhile.
    const it = db.iterator({ keyAsBuffer: false, valueAsBuffer: false });
    const notStarted = db.iterator({ keyAsBuffer: false, valueAsBuffer: false, gte: 'k040' });
    assert.deepEqual(await call((cb) => it.next(cb)), 'k000');
    const release = releaseMappedTables(location, 10_000);
    let settled = false;
    void release.then(() => (settled = true));
    // A write issued now waits for the reopen, then succeeds.
    const write = call((cb) => db.put('later', 'x', {}, cb));
    for (let i = 1; i < 10; i++) assert.equal(await call((cb) => it.next(cb)), `k${String(i).padStart(3, '0')}`);
    assert.equal(settled, false, 'released while an iterator was open');
    await call((cb) => it.end(cb));
    assert.equal(await release, true);
    await write;
    assert.equal(await call((cb) => db.get('later', { asBuffer: false }, cb)), 'x');
    // An iterator made before the reopen but not started reads from the new handle.
    assert.equal(await call((cb) => notStarted.next(cb)), 'k040');
    await call((cb) => notStarted.end(cb));

    // An iterator left open: the release gives up after its wait, nothing changed.
    const held = db.iterator({ keyAsBuffer: false, valueAsBuffer: false });
    await call((cb) => held.next(cb));
    assert.equal(await releaseMappedTables(location, 200), false);
    assert.equal(await call((cb) => held.next(cb)), 'k001');
    assert.equal(await call((cb) => db.get('k002', { asBuffer: false }, cb)), 'v2');
    await call((cb) => held.end(cb));
    assert.equal(await releaseMappedTables(location, 1000), true);
  } finally {
    await call((cb) => db.close(cb)).catch(() => undefined);
    await s.cleanup();
  }
});
