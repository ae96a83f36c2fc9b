// The MailStore over real Soledad (encrypted PouchDB on LevelDB), and two
// devices replicating through the embedded CouchDB-protocol server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Soledad } from '../../src/soledad/index.js';
import { openMailStore, MAIL_MERGE_RULES, type OpenedMailStore } from '../../src/mail/store/index.js';
import type { MailboxChange } from '../../src/mail/mailstore.js';
import { Scratch, TEST_KDF, twoDevices } from '../soledad/helpers.js';

const message = (n: number, extra = '') =>
  Buffer.from(`From: a@example.org\r\nSubject: n${n}\r\nMessage-ID: <${n}@example.org>\r\n\r\nbody ${n}${extra}\r\n`);

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function mailOn(s: Scratch, sol: Soledad): Promise<OpenedMailStore> {
  sol.registerMerge('entry', MAIL_MERGE_RULES.entry);
  sol.registerMerge('mailbox', MAIL_MERGE_RULES.mailbox);
  return s.defer(await openMailStore({ docs: sol, local: sol.local }));
}

test('over Soledad: byte-exact round trip, one blob per content, UIDs persist across reopen', async () => {
  const s = new Scratch();
  try {
    const dir = s.dir();
    let sol = await Soledad.create({ dataDir: dir, passphrase: 'pw', kdf: TEST_KDF });
    let mail = await openMailStore({ docs: sol, local: sol.local });
    const small = message(1);
    const big = Buffer.concat([message(2), Buffer.alloc(2 * 1024 * 1024 + 17, 'y')]);
    async function* chunks() {
      for (let o = 0; o < big.length; o += 65_000) yield big.subarray(o, o + 65_000);
    }
    assert.equal((await mail.append('INBOX', small, { flags: ['\\Seen'] })).uid, 1);
    assert.equal((await mail.append('INBOX', chunks())).uid, 2);
    assert.equal((await mail.copy('INBOX', [1, 2], 'Archive')).mapping.length, 2);
    await mail.deliver('INBOX', small, { deliveryId: 'incoming-a' });
    await mail.deliver('INBOX', small, { deliveryId: 'incoming-a' });
    const { messages } = await mail.messages('INBOX');
    assert.deepEqual(messages.map((m) => m.uid), [1, 2, 3]);
    assert.equal(messages[1].size, big.length);
    assert.ok((await readAll(mail.read(messages[0].hash))).equals(small));
    assert.ok((await readAll(mail.read(messages[1].hash))).equals(big));
    assert.ok((await readAll(mail.read(messages[1].hash, 1000, 200_000))).equals(big.subarray(1000, 200_000)));
    assert.equal(messages[1].hash, createHash('sha256').update(big).digest('hex'));
    assert.equal((await mail.structure(messages[0].hash)).size, small.length);
    for (const h of [messages[0].hash, messages[1].hash]) assert.equal(await sol.hasBlob(h), true);
    await mail.expunge('INBOX', [3]);
    const before = await mail.status('INBOX');
    await mail.close();
    await sol.close();

    sol = await Soledad.open({ dataDir: dir, passphrase: 'pw' });
    mail = await openMailStore({ docs: sol, local: sol.local });
    const after = await mail.status('INBOX');
    assert.deepEqual(
      [after.uidValidity, after.uidNext, after.highestModseq, after.messages],
      [before.uidValidity, 4, before.highestModseq, 2],
    );
    assert.deepEqual((await mail.messages('INBOX')).messages.map((m) => [m.uid, m.flags]), [[1, ['\\Seen']], [2, []]]);
    assert.equal((await mail.append('INBOX', message(4))).uid, 4);
    await mail.close();
    await sol.close();
  } finally {
    await s.cleanup();
  }
});

test('two devices: flags, new mail and expunges reach the other index through sync; concurrent flag edits converge', async () => {
  const s = new Scratch();
  try {
    const { solA, solB } = await twoDevices(s);
    const a = await mailOn(s, solA);
    const b = await mailOn(s, solB);
    const sync = async () => {
      await solA.syncOnce();
      await solB.syncOnce();
      await solA.syncOnce();
    };
    const uidOf = async (m: OpenedMailStore, n: number) => {
      const h = createHash('sha256').update(message(n)).digest('hex');
      return (await m.messages('INBOX')).messages.find((x) => x.hash === h)?.uid;
    };

    await a.append('INBOX', message(1));
    await a.append('INBOX', message(2));
    await sync();
    await waitFor('messages on B', async () => (await b.status('INBOX')).messages === 2);
    // One INBOX on both devices (fixed default ids), not two.
    assert.equal((await b.listMailboxes()).filter((m) => m.name === 'INBOX').length, 1);

    const seenOnB: MailboxChange[] = [];
    b.subscribe((c) => seenOnB.push(c));
    const modseqB = (await b.status('INBOX')).highestModseq;
    await a.storeFlags('INBOX', [(await uidOf(a, 1))!], 'add', ['\\Seen']);
    await sync();
    await waitFor('flags on B', async () => seenOnB.some((c) => c.kind === 'flags'));
    const flagged = seenOnB.find((c) => c.kind === 'flags')!;
    assert.ok(flagged.kind === 'flags' && flagged.message.flags.includes('\\Seen'));
    assert.equal(flagged.kind === 'flags' && flagged.message.uid, await uidOf(b, 1));
    assert.ok((await b.status('INBOX')).highestModseq > modseqB);

    // Concurrent: A sets \Flagged, B sets $Todo on the same message, then both sync.
    await a.storeFlags('INBOX', [(await uidOf(a, 2))!], 'add', ['\\Flagged']);
    await b.storeFlags('INBOX', [(await uidOf(b, 2))!], 'add', ['$Todo']);
    await sync();
    await sync();
    const flagsOn = async (m: OpenedMailStore) =>
      (await m.messages('INBOX')).messages.find((x) => x.hash === createHash('sha256').update(message(2)).digest('hex'))!.flags;
    await waitFor('convergence', async () => (await flagsOn(a)).join() === '\\Flagged,$Todo' && (await flagsOn(b)).join() === '\\Flagged,$Todo');

    // Expunge on B reaches A; a flag change on A made concurrently does not resurrect it.
    const uidA1 = (await uidOf(a, 1))!;
    await b.expunge('INBOX', [(await uidOf(b, 1))!]);
    await a.storeFlags('INBOX', [uidA1], 'add', ['\\Answered']);
    await sync();
    await sync();
    await waitFor('expunge on A', async () => (await uidOf(a, 1)) === undefined);
    assert.equal(await uidOf(b, 1), undefined);
  } finally {
    await s.cleanup();
  }
});
