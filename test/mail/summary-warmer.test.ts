// The background summary warm-up (src/mail/store/summary-warmer.ts) over real
// Soledad: after the persisted summaries are lost (as on a device that never
// listed its mail) every message's summary and listing lines (read from the
// header when the structure predates them) are filled
// without any client asking; mail that arrives later is warmed as it shows up;
// the warm-up stops short of its bound and a close while it runs is clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Soledad } from '../../src/soledad/index.js';
import { openMailStore, type OpenedMailStore } from '../../src/mail/store/index.js';
import { listingHeader } from '../../src/mail/store/summary-cache.js';
import { SummaryWarmer } from '../../src/mail/store/summary-warmer.js';
import type { DocumentMailStore } from '../../src/mail/store/mail-store.js';
import { defaultAnalyzer } from '../../src/mail/store/analyzer.js';
import { storeContent } from '../../src/mail/store/content.js';
import { DOC, newEntry } from '../../src/mail/store/documents.js';
import { defaultMailboxId, sha256Hex } from '../../src/mail/store/ids.js';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import type { Analyzer } from '../../src/mail/store/content.js';
import { Scratch, TEST_KDF } from '../soledad/helpers.js';

/** The analyzer as it was before structures carried the listing lines. */
const olderAnalyzer: Analyzer = {
  ...defaultAnalyzer,
  analyzeMessage: (raw) => ({ ...defaultAnalyzer.analyzeMessage(raw), listing: undefined }),
  analyzeStream: async (src) => ({ ...(await defaultAnalyzer.analyzeStream(src)), listing: undefined }),
};

const message = (n: number) =>
  Buffer.from(`Received: from relay${n}\r\nFrom: Sender ${n} <s${n}@example.org>\r\nTo: a@example.org\r\nSubject: note ${n}\r\nX-Other: ${n}\r\nMessage-ID: <${n}@example.org>\r\n\r\nbody ${n}\r\n`);
const header = (n: number) => message(n).subarray(0, message(n).indexOf('\r\n\r\n') + 4);

/** Appended as a stream (as IMAP APPEND does): the store keeps its summary but cannot keep listing lines. */
async function appendStreamed(mail: OpenedMailStore, raw: Buffer): Promise<void> {
  await mail.append('INBOX', (async function* () {
    yield raw;
  })());
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('never-listed mail is warmed after start, and new mail as it arrives', async () => {
  const s = new Scratch();
  try {
    const dir = s.dir();
    let sol = await Soledad.create({ dataDir: dir, passphrase: 'pw', kdf: TEST_KDF });
    // Structures as derived before they carried the listing lines: the warm-up reads the headers.
    let mail = await openMailStore({ docs: sol, local: sol.local, warmSummaries: false, analyzer: olderAnalyzer });
    for (let n = 1; n <= 40; n++) await appendStreamed(mail, message(n));
    const hashes = (await mail.messages('INBOX')).messages.map((m) => m.hash);
    await mail.close();
    await sol.local.deleteBlob('summary-cache');
    await sol.close();

    sol = await Soledad.open({ dataDir: dir, passphrase: 'pw' });
    mail = await openMailStore({ docs: sol, local: sol.local, analyzer: olderAnalyzer });
    await mail.summariesWarmed();
    hashes.forEach((hash, i) => {
      const got = mail.summaries!.peek(hash);
      assert.ok(got, `message ${i + 1} warmed`);
      assert.equal(got.headerSize, header(i + 1).length);
      assert.deepEqual(got.listing, listingHeader(header(i + 1)));
      assert.match(got.listing!.toString(), /^From: .*\r\nTo: .*\r\nSubject: note \d+\r\nMessage-ID: .*\r\n\r\n$/);
    });

    await appendStreamed(mail, message(41));
    const added = (await mail.messages('INBOX')).messages.at(-1)!.hash;
    await until(() => mail.summaries!.peek(added)?.listing !== undefined, 'the new message to be warmed');
    assert.deepEqual(mail.summaries!.peek(added)!.listing, listingHeader(header(41)));
    await mail.close();
    await sol.close();

    // Warmed summaries are persisted: the next start has nothing to read.
    sol = await Soledad.open({ dataDir: dir, passphrase: 'pw' });
    mail = await openMailStore({ docs: sol, local: sol.local, warmSummaries: false });
    await mail.summaries!.loaded;
    assert.equal(mail.summaries!.size, 41);
    assert.ok(hashes.every((h) => mail.summaries!.peek(h)?.listing));
    await mail.close();
    await sol.close();
  } finally {
    await s.cleanup();
  }
});

test('the warm-up stops at its bound, and a close while it runs is clean', async () => {
  const s = new Scratch();
  try {
    const dir = s.dir();
    let sol = await Soledad.create({ dataDir: dir, passphrase: 'pw', kdf: TEST_KDF });
    let mail = await openMailStore({ docs: sol, local: sol.local, warmSummaries: false });
    for (let n = 1; n <= 60; n++) await appendStreamed(mail, message(n));
    await mail.close();
    await sol.local.deleteBlob('summary-cache');
    await sol.close();

    sol = await Soledad.open({ dataDir: dir, passphrase: 'pw' });
    mail = await openMailStore({ docs: sol, local: sol.local, warmSummaries: false });
    const cache = mail.summaries!;
    // A bound of ~10 entries' worth: it stops there instead of evicting what clients use.
    const warmer = new SummaryWarmer(mail as unknown as DocumentMailStore, { fill: 10_000 / cache.capacity, concurrency: 1 });
    warmer.start();
    await warmer.idle();
    assert.ok(cache.size > 0 && cache.size < 60, `stopped short: ${cache.size} warmed`);
    assert.ok(cache.usedBytes < 20_000);
    await warmer.stop();
    await mail.close();
    await sol.local.deleteBlob('summary-cache');
    await sol.close();

    // Closing at once, while the warm-up reads, neither fails nor leaves reads behind.
    sol = await Soledad.open({ dataDir: dir, passphrase: 'pw' });
    mail = await openMailStore({ docs: sol, local: sol.local });
    await until(() => mail.summaries!.size > 0, 'the warm-up to start');
    await mail.close();
    await sol.close();
  } finally {
    await s.cleanup();
  }
});

test('an entry synced before its message is warmed once the message arrives', async () => {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const mail = await openMailStore({ docs, local });
  const inner = mail as unknown as DocumentMailStore;
  try {
    // Sync order is not guaranteed: another device's entry first, its blob and structure later.
    const raw = message(7);
    const hash = sha256Hex(raw);
    await docs.put(DOC.entry, 'from-elsewhere', newEntry(defaultMailboxId('INBOX'), hash, raw.length, Date.now(), [], inner.clock.now()));
    await until(() => inner.index.entries.has('from-elsewhere'), 'the entry to be indexed');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(mail.summaries!.peek(hash), undefined, 'nothing to warm yet');
    await storeContent(docs, defaultAnalyzer, raw);
    await until(() => mail.summaries!.peek(hash)?.listing !== undefined, 'the retry to warm it');
    assert.deepEqual(mail.summaries!.peek(hash)!.listing, listingHeader(header(7)));
  } finally {
    await mail.close();
    await docs.close();
    await local.close();
  }
});
