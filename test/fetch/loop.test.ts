// FetchLoop failure handling that real parts cannot be made to show on
// demand: a changes feed that breaks, and a document removed (by another
// device, or a retry) between being listed and being read. The rest of the
// loop is exercised with real parts in journey/undecryptable/crash tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { FetchLoop, type FetchDeps } from '../../src/fetch/loop.js';
import type { IncomingDoc } from '../../src/soledad/types.js';
import { waitFor } from '../support/fetch-account.js';

function doc(id: string, payload: string, opts: { gone?: boolean } = {}): IncomingDoc {
  return {
    id,
    receivedAt: '2026-01-01T00:00:00.000Z',
    size: payload.length,
    open: async () => {
      if (opts.gone) throw Object.assign(new Error('missing'), { status: 404 });
      return Readable.from([Buffer.from(payload)]);
    },
  };
}

/** In-memory deps: the "ciphertext" is the message itself; delivered messages are recorded. */
function deps(listing: FetchDeps['incoming'], extra: Partial<FetchDeps> = {}) {
  const delivered: Array<{ id: string; raw: string }> = [];
  const removed: string[] = [];
  const d: FetchDeps = {
    incoming: listing,
    removeIncoming: async (id) => void removed.push(id),
    markIncoming: async () => undefined,
    decrypt: async (stream) => {
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    },
    open: async (raw) => ({ raw, status: { encryption: 'none', signature: 'none' } }),
    deliver: async (_mailbox, raw, o) => void delivered.push({ id: o.deliveryId, raw: raw.toString() }),
    ...extra,
  };
  return { d, delivered, removed };
}

test('a changes feed that fails is followed again (listing first), not left dead', async () => {
  let calls = 0;
  const { d, delivered } = deps(({ signal }) =>
    (async function* () {
      calls++;
      if (calls === 1) {
        yield doc('incoming-a', 'Subject: a\r\n\r\na');
        throw new Error('changes feed broke');
      }
      // The second pass lists what is there now: a arrived and was handled, b came while the feed was down.
      yield doc('incoming-b', 'Subject: b\r\n\r\nb');
      await new Promise((resolve) => signal?.addEventListener('abort', resolve, { once: true }));
    })(),
  );
  const loop = new FetchLoop(d, { retryMs: 20 });
  loop.start();
  try {
    await waitFor('both delivered', () => delivered.length === 2, 10_000);
    assert.deepEqual(delivered.map((m) => m.id), ['incoming-a', 'incoming-b']);
    assert.ok(delivered[0]!.raw.startsWith('X-Sealmail-Encryption: none\r\n'));
    assert.equal(calls, 2);
  } finally {
    await loop.stop();
  }
});

test('a document gone before it is read is skipped quietly: no notice, not counted as undecryptable', async () => {
  const { d, delivered, removed } = deps(() =>
    (async function* () {
      yield doc('incoming-gone', 'x', { gone: true });
      yield doc('incoming-ok', 'Subject: ok\r\n\r\nok');
    })(),
  );
  const loop = new FetchLoop(d);
  await loop.drain();
  assert.deepEqual(delivered.map((m) => m.id), ['incoming-ok']);
  assert.deepEqual(removed, ['incoming-ok']);
  assert.equal(loop.stats.undecryptable.size, 0);
  assert.equal(loop.stats.failed, 0);
});
