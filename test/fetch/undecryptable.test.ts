// Incoming documents the fetch loop cannot (yet) read, and odd messages it
// must not touch: a blob encrypted to another key and a garbage blob are kept,
// marked with the reason and reported once in the INBOX (armored original
// attached), also across a restart of the loop; importing the key they were
// encrypted to makes the loop try again, and once the message is delivered its
// notice is expunged; a malformed MIME message is stored and served byte-exact.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as openpgp from 'openpgp';
import type { ImapFlow } from 'imapflow';
import { encryptTo, incomingIds, message, putIncoming, startFetchAccount, waitFor, type FetchAccountFixture } from '../support/fetch-account.js';
import { createGpg, type Gpg } from '../support/gpg.js';
import { KeyManager } from '../../src/keymanager/index.js';

const ALICE = 'alice@example.org';

let fx: FetchAccountFixture;
let client: ImapFlow;
let gpg: Gpg;

async function inbox(): Promise<Buffer[]> {
  await client.noop();
  const all = await client.fetchAll('1:*', { uid: true, source: true });
  return all.map((m) => m.source!);
}

async function noticesFor(docId: string): Promise<Buffer[]> {
  return (await inbox()).filter((m) => m.includes(`Message-ID: <undecryptable.${docId}@`));
}

/** The armored attachment of a notice, de-armored by the real gpg (checks the CRC-24 too). */
async function attachedBlob(notice: Buffer): Promise<Buffer> {
  const text = notice.toString('latin1');
  const armored = text.slice(text.indexOf('-----BEGIN PGP MESSAGE-----'), text.indexOf('-----END PGP MESSAGE-----') + 25);
  return gpg.ok(['--dearmor'], armored);
}

async function note(id: string): Promise<{ error: string; attempts: number } | undefined> {
  for await (const doc of fx.account.soledad.incoming({ live: false })) if (doc.id === id) return doc.note;
  return undefined;
}

before(async () => {
  fx = await startFetchAccount(ALICE);
  fx.account.fetch.start();
  client = await fx.imapClient();
  await client.mailboxOpen('INBOX');
  gpg = await createGpg();
});

after(async () => {
  await gpg?.close();
  await fx?.dispose();
});

describe('undecryptable and malformed incoming messages', { timeout: 120_000 }, () => {
  let otherKey: { privateKey: string; publicKey: string };
  let toOtherKey: Buffer;
  let otherId: string;
  let garbageId: string;
  // Random bytes, but never an OpenPGP packet header: bit 7 of a packet's
  // first octet is always set (RFC 9580 4.2). Fully random bytes parse as a
  // packet sequence (say, a lone encrypted data packet) ~4% of the time, and
  // are then reported as mail for other keys, which failed a CI run.
  const garbage = crypto.randomBytes(3000);
  garbage[0]! &= 0x7f;
  const secretMessage = message([`From: bob@elsewhere.net`, `To: ${ALICE}`, 'Subject: sent to an old key', 'Message-ID: <old-key@elsewhere.net>'], 'Readable at last.\r\n');

  it('a blob for another key and a garbage blob: kept, marked, one notice each with the armored original', async () => {
    // A key of Alice's that this device does not have (say, from an old installation).
    otherKey = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: ALICE }], format: 'armored' });
    toOtherKey = await encryptTo(otherKey.publicKey, secretMessage);
    otherId = await putIncoming(fx, toOtherKey, '2026-01-01T10:00:00.000Z');
    garbageId = await putIncoming(fx, garbage, '2026-01-01T10:00:01.000Z');

    const [n1] = await waitFor('notice for the other-key blob', async () => ((await noticesFor(otherId)).length ? noticesFor(otherId) : null));
    const [n2] = await waitFor('notice for the garbage blob', async () => ((await noticesFor(garbageId)).length ? noticesFor(garbageId) : null));
    assert.match(n1!.toString(), /Subject: A message could not be decrypted/);
    assert.match(n1!.toString(), /Reason: cannot decrypt with this account's keys/);
    assert.match(n2!.toString(), /Reason: not an OpenPGP message/);
    assert.ok((await attachedBlob(n1!)).equals(toOtherKey), 'the encrypted original, armored');
    assert.ok((await attachedBlob(n2!)).equals(garbage));
    assert.deepEqual((await incomingIds(fx.account)).sort(), [otherId, garbageId].sort(), 'both kept');
    await waitFor('notes written', async () => (await note(otherId)) && (await note(garbageId)));
    assert.match((await note(otherId))!.error, /cannot decrypt/);
    assert.equal((await note(garbageId))!.attempts, 1);
    assert.equal(fx.account.fetch.stats.undecryptable.size, 2);
  });

  it('after a restart of the loop: tried again, still kept, still exactly one notice each', async () => {
    const account = await fx.reopen();
    // IMAP sessions on the closed store are gone with it, as with a daemon restart.
    client = await fx.imapClient();
    await client.mailboxOpen('INBOX');
    account.fetch.start();
    await waitFor('both tried again', async () => account.fetch.stats.undecryptable.size === 2 && (await note(garbageId))?.attempts === 2);
    await waitFor('other-key note updated', async () => (await note(otherId))?.attempts === 2);
    assert.equal((await noticesFor(otherId)).length, 1);
    assert.equal((await noticesFor(garbageId)).length, 1);
    assert.deepEqual((await incomingIds(account)).sort(), [otherId, garbageId].sort());
  });

  it('when the key it was encrypted to is imported, the kept message is decrypted and delivered', async () => {
    await fx.account.keys.importOwnKey(otherKey.privateKey);
    const delivered = await waitFor('the old-key message in INBOX', async () => (await inbox()).find((m) => m.includes('Message-ID: <old-key@elsewhere.net>')));
    assert.ok(delivered.includes('\r\n\r\nReadable at last.\r\n'));
    await waitFor('its incoming doc removed', async () => !(await incomingIds(fx.account)).includes(otherId));
    assert.deepEqual(await incomingIds(fx.account), [garbageId], 'the garbage stays kept');
    // Its notice is obsolete now: expunged (the garbage blob's notice stays).
    await waitFor('the obsolete notice expunged', async () => (await noticesFor(otherId)).length === 0);
    assert.equal((await noticesFor(garbageId)).length, 1);
    assert.equal((await inbox()).filter((m) => m.includes('Message-ID: <old-key@elsewhere.net>')).length, 1);
  });

  it('a malformed MIME message inside is stored and served byte-exact', async () => {
    const malformed = Buffer.concat([
      Buffer.from('From: odd@elsewhere.net\r\nSubject: broken\r\nMessage-ID: <malformed@elsewhere.net>\r\n', 'latin1'),
      Buffer.from('Content-Type: multipart/mixed; boundary="never-closed"\r\nContent-Transfer-Encoding: base64\r\nX-Bare-LF: yes\n', 'latin1'),
      Buffer.from('\r\n--never-closed\r\nContent-Type: text/plain; charset=bogus\r\n\r\n@@@ not base64 \x00\x01\xff\xfe\r\nlone CR\rhere\n', 'latin1'),
      crypto.randomBytes(200),
    ]);
    const own = await fx.account.keys.exportPublicKey();
    await putIncoming(fx, await encryptTo(own, malformed));
    const got = await waitFor('the malformed message in INBOX', async () => (await inbox()).find((m) => m.includes('Message-ID: <malformed@elsewhere.net>')));
    const ours = 'X-Sealmail-Encryption: none\r\nX-Sealmail-Signature: none\r\n';
    assert.equal(got.subarray(0, ours.length).toString('latin1'), ours);
    assert.ok(got.subarray(ours.length).equals(malformed), 'byte-exact after our two status headers');
  });

  it('a key imported on another device (arriving by sync) also makes the loop try again', async () => {
    const key = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: ALICE }], format: 'armored' });
    const raw = message([`From: bob@elsewhere.net`, `To: ${ALICE}`, 'Message-ID: <other-device@elsewhere.net>'], 'Via the other device.\r\n');
    const id = await putIncoming(fx, await encryptTo(key.publicKey, raw));
    await waitFor('its notice', async () => (await noticesFor(id)).length === 1);
    // The other device's keymanager writes our key doc; here that write lands in the store as sync would bring it.
    const otherDevice = new KeyManager({ store: fx.account.soledad, address: ALICE, publish: async () => undefined });
    await otherDevice.importOwnKey(key.privateKey);
    await waitFor('the message delivered', async () => (await inbox()).some((m) => m.includes('Message-ID: <other-device@elsewhere.net>')));
    await waitFor('its incoming doc removed', async () => !(await incomingIds(fx.account)).includes(id));
    await waitFor('its notice expunged', async () => (await noticesFor(id)).length === 0);
  });
});
