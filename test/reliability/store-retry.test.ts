// An incoming message whose store fails (a full disk, a store error) is tried
// again by the running daemon once storing works again, not only at the next
// start: the live feed does not offer it a second time. The disk-full test
// shows this end to end; here the store fails on purpose, a set number of times.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { FetchLoop } from '../../src/fetch/loop.js';
import { encryptTo, incomingIds, message, putIncoming, startFetchAccount, waitFor, type FetchAccountFixture } from '../support/fetch-account.js';

let fx: FetchAccountFixture;

before(async () => {
  fx = await startFetchAccount();
});

after(async () => {
  await fx?.dispose();
});

test('a failed store is retried with backoff while the loop runs, and stored once', { timeout: 60_000 }, async () => {
  const a = fx.account;
  await a.fetch.stop(); // this test runs its own loop on the account's wiring
  const wired = a.fetch.deps;
  let failuresLeft = 3;
  let attempts = 0;
  const loop = new FetchLoop({
    ...wired,
    deliver: async (mailbox, raw, opts) => {
      attempts++;
      if (failuresLeft-- > 0) throw new Error('IO error: No space left on device');
      return wired.deliver(mailbox, raw, opts);
    },
    // The loop stores in batches through deliverMany when the wiring has it (a batch of one here).
    deliverMany: async (mailbox, items) => {
      attempts++;
      if (failuresLeft-- > 0) throw new Error('IO error: No space left on device');
      return wired.deliverMany!(mailbox, items);
    },
  }, { retryMs: 50 });
  loop.start();
  try {
    const raw = message(['From: carol@elsewhere.net', 'To: alice@example.org', 'Message-ID: <full-disk@elsewhere.net>', 'Subject: retried'], 'stored at last\r\n');
    const id = await putIncoming(fx, await encryptTo(await a.keys.exportPublicKey(), raw));
    await waitFor('the message stored after three failures', async () => (await a.mail.messages('INBOX')).messages.length === 1 || null, 30_000);
    await waitFor('the incoming doc removed', async () => !(await incomingIds(a)).includes(id) || null);
    assert.equal(attempts, 4, 'three failures, then one store');
    await new Promise((r) => setTimeout(r, 500)); // backoff periods: nothing stored twice
    assert.equal((await a.mail.messages('INBOX')).messages.length, 1);
    assert.equal(loop.stats.processed, 1);
    assert.equal(loop.stats.failed, 3);
  } finally {
    await loop.stop();
  }
});
