// Storing content answers "is a deletion of this blob under way?" from the
// collector's in-memory set of unsettled intents (blob-gc-docs.ts): no
// document read for content nobody proposed to delete, and still a cancel and
// a rewrite for a deletion another device proposed that arrived by sync (real
// Soledad, replication through the embedded CouchDB-protocol server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Soledad } from '../../src/soledad/index.js';
import { openMailStore, MAIL_MERGE_RULES, type OpenedMailStore } from '../../src/mail/store/index.js';
import { DocumentMailStore } from '../../src/mail/store/mail-store.js';
import { BlobGc, mailDeviceId } from '../../src/mail/store/blob-gc.js';
import { BLOB_GC_MERGE_RULES, GC_DOC, intentInMemory, type CheckinDoc, type GcIntentDoc } from '../../src/mail/store/blob-gc-docs.js';
import { Scratch, twoDevices } from '../soledad/helpers.js';

const GRACE = 300;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const message = (n: number) => Buffer.from(`From: a@example.org\r\nSubject: m${n}\r\nMessage-ID: <${n}@example.org>\r\n\r\nbody ${n}\r\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function device(s: Scratch, sol: Soledad): Promise<{ mail: OpenedMailStore; gc: BlobGc; device: string }> {
  sol.registerMerge('entry', MAIL_MERGE_RULES.entry);
  sol.registerMerge('mailbox', MAIL_MERGE_RULES.mailbox);
  for (const [type, rule] of Object.entries(BLOB_GC_MERGE_RULES)) sol.registerMerge(type, rule as never);
  const mail = s.defer(await openMailStore({ docs: sol, local: sol.local, warmSummaries: false }));
  assert.ok(mail instanceof DocumentMailStore);
  const device = await mailDeviceId(sol.local);
  const gc = new BlobGc({ docs: sol, entries: () => mail.index.entries.values(), device, graceMs: GRACE, storedLatelyMs: 0 });
  s.defer({ close: () => gc.stop() });
  return { mail, gc, device };
}

test('stores read no intent document unless one is pending, and still cancel a deletion proposed by another device', async () => {
  const s = new Scratch();
  try {
    const { solA, solB, syncAndResolve: sync } = await twoDevices(s);
    const a = await device(s, solA);
    const b = await device(s, solB);
    // Intent documents B reads (the real store does the reading).
    let intentReads = 0;
    const get = solB.get.bind(solB);
    solB.get = (<T>(type: string, id: string): Promise<T | null> => {
      if (type === GC_DOC.intent) intentReads++;
      return get<T>(type, id);
    }) as typeof solB.get;
    const cancelsOfB = async () => (await solB.get<CheckinDoc>(GC_DOC.checkin, b.device))?.cancels ?? {};

    const waited = message(1); // B stores it once the intent came through its changes feed
    const atOnce = message(2); // B stores it right after the sync, whatever the feed did yet
    for (const m of [waited, atOnce]) await a.mail.append('INBOX', m);
    await b.gc.run(); // B checks in
    await sync();
    await waitFor('B\'s memory of intents', () => intentInMemory(solB, sha(waited)) === false);

    // Nothing proposed: B stores new content without reading an intent document.
    const before = intentReads;
    await b.mail.append('INBOX', message(3));
    await b.mail.append('INBOX', message(4));
    assert.equal(intentReads, before, 'no intent read for content with no deletion proposed');

    await a.mail.expunge('INBOX', [1, 2]);
    assert.equal((await a.gc.run()).proposed, 2);
    await sync();

    // Arrived by sync and through the feed: B's store reads it and cancels the round at once.
    await waitFor('the intent in B\'s memory', () => intentInMemory(solB, sha(waited)) === true);
    const round = (await solB.get<GcIntentDoc>(GC_DOC.intent, sha(waited)))!.round;
    await b.mail.append('INBOX', waited);
    assert.equal((await cancelsOfB())[sha(waited)], round, 'the store cancelled the round (no pass ran)');

    // Stored at once: the store cancels it, or (had the feed not reported it yet) B's next pass does.
    await b.mail.append('INBOX', atOnce);
    await b.gc.run();
    await sync();
    await sleep(GRACE + 50);
    const report = await a.gc.run();
    assert.equal(report.deleted, 0, 'B needs both: nothing deleted');
    assert.equal(report.cancelled, 2);
    for (const m of [waited, atOnce]) {
      assert.equal(await solA.hasBlob(sha(m)), true);
      assert.equal(await solB.hasBlob(sha(m)), true);
    }
    await sync();
    // Cancelled rounds leave the memory through the feed: stores of that content read nothing again.
    await waitFor('the cancels in B\'s memory', () => intentInMemory(solB, sha(waited)) === false && intentInMemory(solB, sha(atOnce)) === false);
  } finally {
    await s.cleanup();
  }
});
