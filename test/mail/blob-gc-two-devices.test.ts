// Blob garbage collection across two devices synced through the embedded
// CouchDB-protocol server (real Soledad, real replication and conflicts):
// a deletion needs the other device's ack; an APPEND of the same content on
// the other device during the grace period cancels it; even when the
// deleter deletes before that device's cancel reaches it, the rewritten blob
// wins over the deletion; the deletion reaches the other device and a new
// device restored afterwards does not get the freed bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Soledad } from '../../src/soledad/index.js';
import { openMailStore, MAIL_MERGE_RULES, type OpenedMailStore } from '../../src/mail/store/index.js';
import { DocumentMailStore } from '../../src/mail/store/mail-store.js';
import { BlobGc, mailDeviceId } from '../../src/mail/store/blob-gc.js';
import { BLOB_GC_MERGE_RULES, GC_DOC, type GcIntentDoc } from '../../src/mail/store/blob-gc-docs.js';
import { Scratch, twoDevices } from '../soledad/helpers.js';

const GRACE = 300;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const message = (n: number, size = 0) =>
  Buffer.concat([Buffer.from(`From: a@example.org\r\nSubject: m${n}\r\nMessage-ID: <${n}@example.org>\r\n\r\n`), Buffer.alloc(size, `body ${n}\r\n`)]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function registerRules(sol: Soledad): void {
  sol.registerMerge('entry', MAIL_MERGE_RULES.entry);
  sol.registerMerge('mailbox', MAIL_MERGE_RULES.mailbox);
  for (const [type, rule] of Object.entries(BLOB_GC_MERGE_RULES)) sol.registerMerge(type, rule as never);
}

async function device(s: Scratch, sol: Soledad): Promise<{ mail: OpenedMailStore; gc: BlobGc }> {
  registerRules(sol);
  const mail = s.defer(await openMailStore({ docs: sol, local: sol.local, warmSummaries: false }));
  assert.ok(mail instanceof DocumentMailStore);
  const gc = new BlobGc({ docs: sol, entries: () => mail.index.entries.values(), device: await mailDeviceId(sol.local), graceMs: GRACE, storedLatelyMs: 0 });
  s.defer({ close: () => gc.stop() });
  return { mail, gc };
}

const inbox = async (m: OpenedMailStore) => (await m.messages('INBOX')).messages.map((x) => x.hash);

test('two devices: acks, a cancel by APPEND during the grace period, a rewrite racing the deletion, and a restore after', async () => {
  const s = new Scratch();
  try {
    const { url, solA, solB, syncAndResolve: sync } = await twoDevices(s);
    const a = await device(s, solA);
    const b = await device(s, solB);
    const kept = message(1, 100_000); // B appends it again during the grace period
    const freed = message(2, 100_000); // expunged on both: freed
    const raced = message(3, 100_000); // B appends it again after acking, while A deletes
    for (const m of [kept, freed, raced]) await a.mail.append('INBOX', m);
    await b.gc.run(); // B checks in
    await sync();
    await waitFor('B sees the messages', async () => (await inbox(b.mail)).length === 3);

    await a.mail.expunge('INBOX', [1, 2, 3]);
    assert.equal((await a.gc.run()).proposed, 3);
    await sync();
    await waitFor('B sees the expunges', async () => (await inbox(b.mail)).length === 0);
    await sleep(GRACE + 50);
    assert.equal((await a.gc.run()).deleted, 0, 'B has not acked yet');

    // B: APPEND of `kept` (its blob is here: the shortcut), then B's pass acks the other two.
    await b.mail.append('INBOX', kept);
    await b.gc.run();
    await sync();
    await sleep(GRACE + 50);
    // B appends `raced` now (cancel + rewrite) but A deletes before that reaches it.
    await b.mail.append('INBOX', raced);
    const first = await a.gc.run();
    assert.equal(first.deleted, 2, 'freed and raced: B had acked both');
    assert.equal(first.cancelled, 1, 'kept: B cancelled it');
    assert.equal(await solA.hasBlob(sha(raced)), false);
    await sync();
    await sync();

    // The rewrite on B won over A's deletion; the deletion of `freed` reached B.
    for (const [name, sol] of [['A', solA], ['B', solB]] as const) {
      assert.equal(await sol.hasBlob(sha(freed)), false, `freed is gone on ${name}`);
      assert.equal(await sol.hasBlob(sha(kept)), true, `kept is on ${name}`);
      assert.equal(await sol.hasBlob(sha(raced)), true, `raced is on ${name}`);
    }
    await waitFor('A sees B\'s appends', async () => (await inbox(a.mail)).length === 2);
    for (const m of [kept, raced]) {
      assert.ok((await readAll(a.mail.read(sha(m)))).equals(m), 'A reads it byte-exact');
      assert.ok((await readAll(b.mail.read(sha(m)))).equals(m), 'B reads it byte-exact');
    }
    // A's next pass records that `raced` lives again: no later store needs to rewrite it.
    await sleep(GRACE + 50);
    await a.gc.run();
    assert.equal((await solA.get<GcIntentDoc>(GC_DOC.intent, sha(raced)))?.state, 'cancelled');
    // Settled a grace period ago: removed.
    assert.equal(await solA.get<GcIntentDoc>(GC_DOC.intent, sha(freed)), null);
    await sync();

    // A new device gets neither the freed bytes nor a broken message.
    const solC = s.defer(await Soledad.restore({ dataDir: s.dir(), passphrase: 'pw', remote: { url }, liveSync: false }));
    const c = await device(s, solC);
    assert.equal(await solC.hasBlob(sha(freed)), false);
    for (const h of await inbox(c.mail)) assert.equal(await solC.hasBlob(h), true);
    assert.deepEqual((await inbox(c.mail)).sort(), [sha(kept), sha(raced)].sort());
  } finally {
    await s.cleanup();
  }
});
