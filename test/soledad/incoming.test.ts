import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Soledad } from '../../src/soledad/index.js';
import type { IncomingDoc } from '../../src/soledad/types.js';
import { Scratch, TEST_KDF, collect, createDb } from './helpers.js';

/** Writes an incoming doc straight into the server database, as the provider's MX does. */
async function deliver(dbUrl: string, payload: Buffer, receivedAt: string): Promise<string> {
  const id = `incoming-${crypto.randomUUID()}`;
  const res = await fetch(`${dbUrl}/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      sealmail: 'incoming',
      v: 1,
      receivedAt,
      _attachments: { 'message.pgp': { content_type: 'application/pgp-encrypted', data: payload.toString('base64') } },
    }),
  });
  assert.equal(res.status, 201);
  return id;
}

async function bytes(doc: IncomingDoc): Promise<Buffer> {
  return Buffer.concat(await collect(await doc.open()));
}

test('incoming docs: existing ones first (oldest first), then new ones as sync brings them; remove and mark', async () => {
  const s = new Scratch();
  try {
    const couch = await s.couch();
    const url = await createDb(couch, 'alice');
    const p1 = crypto.randomBytes(5000);
    const p2 = crypto.randomBytes(70_000);
    const id2 = await deliver(url, p2, '2026-01-02T00:00:00.000Z');
    const id1 = await deliver(url, p1, '2026-01-01T00:00:00.000Z');

    const sol = s.defer(
      await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF, remote: { url }, sync: { backoff: { initialMs: 100, maxMs: 300 } } }),
    );
    await sol.syncOnce();
    const existing = await collect(sol.incoming());
    assert.deepEqual(existing.map((d) => d.id), [id1, id2]);
    assert.equal(existing[1]!.size, p2.length);
    assert.ok((await bytes(existing[0]!)).equals(p1));
    assert.ok((await bytes(existing[1]!)).equals(p2));
    assert.equal(existing[0]!.receivedAt, '2026-01-01T00:00:00.000Z');

    // Live: the existing ones, then one the MX writes later, brought by continuous sync.
    const controller = new AbortController();
    const live: IncomingDoc[] = [];
    const following = (async () => {
      for await (const d of sol.incoming({ live: true, signal: controller.signal })) {
        live.push(d);
        if (live.length === 3) controller.abort();
      }
    })();
    const p3 = crypto.randomBytes(100);
    const id3 = await deliver(url, p3, '2026-01-03T00:00:00.000Z');
    await following;
    assert.deepEqual(live.map((d) => d.id), [id1, id2, id3]);
    assert.ok((await bytes(live[2]!)).equals(p3));

    // An undecryptable one is marked locally (kept, reported with its note); a processed one is removed everywhere.
    await sol.markIncoming(id2, { error: 'no matching private key', attempts: 1 });
    await sol.removeIncoming(id1);
    assert.deepEqual([...(await sol.existingIncoming([id1, id2, id3, 'incoming-never']))].sort(), [id2, id3].sort(), 'what is still there');
    const after = await collect(sol.incoming());
    assert.deepEqual(after.map((d) => d.id), [id2, id3]);
    assert.equal(after[0]!.note?.error, 'no matching private key');
    assert.equal(after[0]!.note?.attempts, 1);
    assert.equal(after[1]!.note, undefined);
    await sol.syncOnce();
    assert.equal((await fetch(`${url}/${id1}`)).status, 404, 'the server copy is gone too');
    assert.equal((await fetch(`${url}/${id2}`)).status, 200, 'the marked one is kept');
  } finally {
    await s.cleanup();
  }
});
