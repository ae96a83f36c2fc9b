// A crash after the message was stored but before its incoming document was
// deleted means the next start delivers it again; the store dedupes that
// only if the bytes are the same. Here the signer's key arrives in between
// (unknown-key would become valid): the retry must still store nothing new.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { FetchLoop } from '../../src/fetch/loop.js';
import { createGpg, type Gpg } from '../support/gpg.js';
import { encryptTo, incomingIds, message, putIncoming, startFetchAccount, waitFor, type FetchAccountFixture } from '../support/fetch-account.js';

let fx: FetchAccountFixture;
let gpg: Gpg;

before(async () => {
  fx = await startFetchAccount();
  gpg = await createGpg();
});

after(async () => {
  await gpg?.close();
  await fx?.dispose();
});

test('retry after a crash past delivery: same status, same bytes, one message', { timeout: 60_000 }, async () => {
  const carolFpr = await gpg.generateKey('carol@elsewhere.net');
  const signed = (await gpg.ok(['--clearsign', '-u', 'carol@elsewhere.net'], 'Signed hello.\n')).toString().replace(/\r?\n/g, '\r\n');
  const raw = message(['From: carol@elsewhere.net', 'To: alice@example.org', 'Message-ID: <retry@elsewhere.net>', 'Content-Type: text/plain'], signed);
  const a = fx.account;
  const id = await putIncoming(fx, await encryptTo(await a.keys.exportPublicKey(), raw));
  await waitFor('the incoming doc synced', async () => (await incomingIds(a)).includes(id));

  // The daemon's own wiring (account.ts), with the process "dying" right after delivery.
  const wired = a.fetch.deps;
  const dying = new FetchLoop({
    ...wired,
    removeIncoming: async () => {
      throw new Error('killed before the incoming doc was deleted');
    },
    removeIncomingMany: async () => {
      throw new Error('killed before the incoming docs were deleted');
    },
  });
  await dying.drain();
  let { messages } = await a.mail.messages('INBOX');
  assert.equal(messages.length, 1);
  assert.deepEqual(await incomingIds(a), [id], 'kept: not deleted');

  // Meanwhile Carol's key becomes known; then the next start.
  await a.keys.importKeys(await gpg.exportPublic('carol@elsewhere.net'));
  const restarted = new FetchLoop(wired);
  await restarted.drain();
  ({ messages } = await a.mail.messages('INBOX'));
  assert.equal(messages.length, 1, 'stored once');
  assert.deepEqual(await incomingIds(a), []);
  const chunks: Buffer[] = [];
  for await (const c of a.mail.read(messages[0]!.hash)) chunks.push(c as Buffer);
  assert.match(Buffer.concat(chunks).toString(), /^X-Sealmail-Encryption: none\r\nX-Sealmail-Signature: unknown-key/);

  // A new message from Carol now verifies (the memo is per delivery, not a cache).
  const raw2 = Buffer.from(raw.toString().replace('<retry@', '<retry2@'));
  await putIncoming(fx, await encryptTo(await a.keys.exportPublicKey(), raw2));
  await waitFor('the second doc synced', async () => (await incomingIds(a)).length === 1);
  await restarted.drain();
  ({ messages } = await a.mail.messages('INBOX'));
  assert.equal(messages.length, 2);
  const second: Buffer[] = [];
  for await (const c of a.mail.read(messages[1]!.hash)) second.push(c as Buffer);
  assert.match(Buffer.concat(second).toString(), new RegExp(`X-Sealmail-Signature: valid; fpr=${carolFpr}`));
});
