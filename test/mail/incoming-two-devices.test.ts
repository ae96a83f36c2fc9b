// One incoming document stored by two devices of the account before either
// has synced: both fetch loops saw it (the first to finish removes it, too
// late for the other). Device A knows the signer's key and device B does not,
// so the bytes they store differ in X-Sealmail-Signature. The entry id of a
// delivery derives from the incoming document alone: both write the same
// entry, and sync merges the two writes into one message, the same on both.
// Real parts: two Soledad stores replicating through the embedded
// CouchDB-protocol server, real OpenPGP (MX layer and a PGP/MIME signature),
// the real FetchLoop and status headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import * as openpgp from 'openpgp';
import { Soledad } from '../../src/soledad/index.js';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { openMailStore, MAIL_MERGE_RULES, type EntryDoc, type OpenedMailStore } from '../../src/mail/store/index.js';
import { entryId, sha256Hex } from '../../src/mail/store/ids.js';
import { newEntry } from '../../src/mail/store/documents.js';
import { FetchLoop } from '../../src/fetch/loop.js';
import type { MailboxChange } from '../../src/mail/mailstore.js';
import type { MessageStatus } from '../../src/fetch/status-headers.js';
import { buildSigned, openMessage } from '../../src/keymanager/index.js';
import type { IncomingDoc } from '../../src/soledad/types.js';
import { Scratch, TEST_KDF, createDb } from '../soledad/helpers.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function key(email: string): Promise<{ privateKey: string; publicKey: string }> {
  return openpgp.generateKey({ type: 'curve25519', userIDs: [{ email }], format: 'armored' });
}

/** A fetch loop for one device: `verifyWith` is the keyring it has for the sender. */
function fetchLoop(doc: IncomingDoc, mail: OpenedMailStore, account: string, verifyWith: string[]): FetchLoop {
  return new FetchLoop({
    incoming: () => Readable.from([doc]),
    removeIncoming: async () => undefined,
    markIncoming: async () => undefined,
    decrypt: async (ciphertext) => {
      const message = await openpgp.readMessage({ binaryMessage: await readAll(ciphertext) });
      const decryptionKeys = await openpgp.readPrivateKey({ armoredKey: account });
      const { data } = await openpgp.decrypt({ message, decryptionKeys, format: 'binary' });
      return Buffer.from(data as Uint8Array);
    },
    open: async (raw) => {
      const opened = await openMessage(raw, { decryptionKeys: [account], verificationKeys: verifyWith });
      const s = opened.signature;
      const signature = s.status === 'valid' ? `valid; fpr=${s.fingerprint ?? ''}` : s.status;
      return { raw: opened.raw, status: { encryption: opened.encryption, signature } satisfies MessageStatus };
    },
    deliver: async (mailbox, raw, o) => void (await mail.deliver(mailbox, raw, o)),
  });
}

test('two devices with different keyrings store one incoming document: one message on both after sync', async () => {
  const s = new Scratch();
  try {
    const [alice, bob] = await Promise.all([key('alice@example.org'), key('bob@example.org')]);
    const signed = await buildSigned(
      Buffer.from('From: bob@example.org\r\nTo: alice@example.org\r\nSubject: signed\r\nMessage-ID: <s1@example.org>\r\n\r\nhello alice\r\n'),
      { signingKey: bob.privateKey },
    );
    const encryptionKeys = await openpgp.readKey({ armoredKey: alice.publicKey });
    const ciphertext = Buffer.from(
      (await openpgp.encrypt({ message: await openpgp.createMessage({ binary: signed }), encryptionKeys, format: 'binary' })) as Uint8Array,
    );
    const doc: IncomingDoc = {
      id: 'incoming-0b1c',
      receivedAt: '2026-11-20T10:00:00.000Z',
      size: ciphertext.length,
      open: async () => Readable.from([ciphertext]),
    };

    const couch = await s.couch();
    const url = await createDb(couch, 'alice');
    const solA = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF, remote: { url }, liveSync: false }));
    await solA.syncOnce();
    const solB = s.defer(await Soledad.restore({ dataDir: s.dir(), passphrase: 'pw', remote: { url }, liveSync: false }));
    const devices: Array<{ sol: Soledad; mail: OpenedMailStore }> = [];
    for (const sol of [solA, solB]) {
      sol.registerMerge('entry', MAIL_MERGE_RULES.entry);
      sol.registerMerge('mailbox', MAIL_MERGE_RULES.mailbox);
      devices.push({ sol, mail: s.defer(await openMailStore({ docs: sol, local: sol.local })) });
    }
    const [a, b] = devices as [(typeof devices)[0], (typeof devices)[0]];
    const sync = async () => {
      await solA.syncOnce();
      await solB.syncOnce();
      await solA.syncOnce();
    };
    await sync(); // both devices share INBOX's document before the delivery

    // Both process the document, offline from each other.
    await Promise.all([
      fetchLoop(doc, a.mail, alice.privateKey, [bob.publicKey]).drain(),
      fetchLoop(doc, b.mail, alice.privateKey, []).drain(),
    ]);
    const inbox = async (m: OpenedMailStore) => (await m.messages('INBOX')).messages;
    const [beforeA, beforeB] = [await inbox(a.mail), await inbox(b.mail)];
    assert.equal(beforeA.length, 1);
    assert.equal(beforeB.length, 1);
    const bytesA = await readAll(a.mail.read(beforeA[0]!.hash));
    const bytesB = await readAll(b.mail.read(beforeB[0]!.hash));
    assert.match(bytesA.toString(), /^X-Sealmail-Signature: valid; fpr=/m, 'A verified the signature');
    assert.match(bytesB.toString(), /^X-Sealmail-Signature: unknown-key/m, 'B could not');
    assert.notEqual(beforeA[0]!.hash, beforeB[0]!.hash, 'the two devices stored different bytes');

    const seenA: MailboxChange[] = [];
    const seenB: MailboxChange[] = [];
    a.mail.subscribe((c) => seenA.push(c));
    b.mail.subscribe((c) => seenB.push(c));
    await sync();
    await sync();
    const winner = [beforeA[0]!, beforeB[0]!].sort((x, y) => (x.hash < y.hash ? -1 : 1))[0]!;
    const settled = async (m: OpenedMailStore) => {
      const list = await inbox(m);
      return list.length === 1 && list[0]!.hash === winner.hash;
    };
    await waitFor('one message, the same content, on both devices', async () => (await settled(a.mail)) && (await settled(b.mail)));
    for (const d of devices) {
      const [m] = await inbox(d.mail);
      // Size and bytes belong to the content that won (never one's size with the other's hash).
      assert.equal(m!.size, winner.size);
      const bytes = await readAll(d.mail.read(m!.hash));
      assert.equal(bytes.length, m!.size);
      assert.equal(sha256Hex(bytes), m!.hash);
      // UIDs are device-local. Where the content shown stays, so does its
      // UID; where it changed, the message shown went away (EXPUNGE) and the
      // settled one came in under a new UID (EXISTS): a UID never names other bytes.
      const shown = (d === a ? beforeA : beforeB)[0]!;
      const seen = (d === a ? seenA : seenB).filter((c) => c.kind === 'expunge' || c.kind === 'exists');
      if (shown.hash === winner.hash) {
        assert.equal(m!.uid, shown.uid);
        assert.deepEqual(seen, []);
      } else {
        assert.ok(m!.uid > shown.uid, `new UID ${m!.uid} after ${shown.uid}`);
        assert.deepEqual(
          seen.map((c) => (c.kind === 'expunge' ? `expunge ${c.uid}` : c.kind === 'exists' ? `exists ${c.message.uid} ${c.message.hash}` : '')),
          [`expunge ${shown.uid}`, `exists ${m!.uid} ${winner.hash}`],
        );
      }
      // One entry document in the store, not two that the index happens to show as one.
      const inboxId = (await d.mail.listMailboxes()).find((x) => x.name === 'INBOX')!.id;
      let entries = 0;
      for await (const e of d.sol.query<EntryDoc>('entry')) if (e.content.mailbox === inboxId && e.content.expunged === null) entries++;
      assert.equal(entries, 1);
    }
  } finally {
    await s.cleanup();
  }
});

test('a delivery stored under the older content-derived entry id is found again: a retry adds no second message', async () => {
  const docs = new MemoryDocumentStore();
  const raw = Buffer.from('Subject: kept\r\n\r\nstored by an earlier version\r\n');
  const hash = sha256Hex(raw);
  // What an earlier version wrote for incoming-old: blob, and the entry under entryId(mailbox, hash, delivery).
  const first = await openMailStore({ docs, local: new MemoryDocumentStore() });
  const inboxId = (await first.listMailboxes()).find((m) => m.name === 'INBOX')!.id;
  await first.append('Archive', raw); // stores the blob and structure
  await first.close();
  const legacy = entryId(inboxId, hash, 'incoming-old');
  await docs.put<EntryDoc>('entry', legacy, newEntry(inboxId, hash, raw.length, 1_700_000_000_000, [], '0001700000000000.000000.aaaa'));

  const mail = await openMailStore({ docs, local: new MemoryDocumentStore() });
  try {
    assert.equal((await mail.messages('INBOX')).messages.length, 1);
    const again = await mail.deliver('INBOX', raw, { deliveryId: 'incoming-old' });
    assert.equal(again.duplicate, true);
    const fresh = await mail.deliver('INBOX', raw, { deliveryId: 'incoming-new' });
    assert.equal(fresh.duplicate, false);
    assert.equal((await mail.deliver('INBOX', raw, { deliveryId: 'incoming-new' })).duplicate, true);
    assert.equal((await mail.messages('INBOX')).messages.length, 2);
  } finally {
    await mail.close();
  }
});
