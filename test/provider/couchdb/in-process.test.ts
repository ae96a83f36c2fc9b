import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedCouch } from '../../../src/provider/couchdb/embedded.js';
import { CouchClient, CouchError } from '../../../src/provider/store/couch-client.js';

test('embedded CouchDB in-process writes: same documents as over HTTP, seen by a waiting _changes feed, aborts store nothing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
  const couch = await startEmbeddedCouch({ dataDir: dir });
  const direct = new CouchClient(couch.url, couch.local);
  const overHttp = new CouchClient(couch.url);
  try {
    await overHttp.ensureDb('userdb');
    // A longpoll feed already waiting over HTTP must hear of an in-process write.
    const since = ((await (await overHttp.request('GET', 'userdb')).json()) as { update_seq: string | number }).update_seq;
    const feed = overHttp.request('GET', `userdb/_changes?feed=longpoll&since=${encodeURIComponent(String(since))}&timeout=20000`);
    await new Promise((r) => setTimeout(r, 200));

    const small = crypto.randomBytes(5000);
    const rev = await direct.createDocWithAttachment('userdb', { _id: 'small', kind: 'x' }, { name: 'a', contentType: 'application/octet-stream', data: small });
    assert.match(rev, /^1-/);
    const changes = (await (await feed).json()) as { results: Array<{ id: string }> };
    assert.deepEqual(changes.results.map((r) => r.id), ['small']);

    // A streamed attachment is gathered and stored whole.
    const parts = [crypto.randomBytes(100_000), crypto.randomBytes(1), crypto.randomBytes(70_001)];
    async function* stream() {
      yield* parts;
    }
    await direct.createDocWithAttachment('userdb', { _id: 'streamed' }, { name: 'b', contentType: 'application/octet-stream', data: stream() });
    for (const [id, name, bytes] of [['small', 'a', small], ['streamed', 'b', Buffer.concat(parts)]] as const) {
      const res = await overHttp.request('GET', `userdb/${id}/${name}`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes, id);
    }
    const doc = (await overHttp.getDoc('userdb', 'small')) as unknown as { kind: string; _attachments: { a: { length: number; digest: string } } };
    assert.equal(doc.kind, 'x');
    assert.equal(doc._attachments.a.digest, 'md5-' + crypto.createHash('md5').update(small).digest('base64'));

    // Aborted before the write: nothing stored. A failing stream: nothing stored.
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    await assert.rejects(direct.createDocWithAttachment('userdb', { _id: 'aborted' }, { name: 'a', contentType: 'text/plain', data: stream() }, controller.signal));
    async function* failing() {
      yield Buffer.from('partial');
      throw new Error('source failed');
    }
    await assert.rejects(direct.createDocWithAttachment('userdb', { _id: 'failed' }, { name: 'a', contentType: 'text/plain', data: failing() }), /source failed/);
    assert.equal(await overHttp.getDoc('userdb', 'aborted'), null);
    assert.equal(await overHttp.getDoc('userdb', 'failed'), null);

    // Conflicts, missing databases and deletes map to CouchError like the HTTP API's.
    await assert.rejects(
      direct.createDocWithAttachment('userdb', { _id: 'small' }, { name: 'a', contentType: 'text/plain', data: Buffer.from('x') }),
      (e: unknown) => e instanceof CouchError && e.status === 409,
    );
    await assert.rejects(
      direct.createDocWithAttachment('nodb', { _id: 'x' }, { name: 'a', contentType: 'text/plain', data: Buffer.from('x') }),
      (e: unknown) => e instanceof CouchError && e.status === 404,
    );
    await direct.deleteDoc('userdb', 'small', rev);
    assert.equal(await overHttp.getDoc('userdb', 'small'), null);
    await assert.rejects(direct.deleteDoc('userdb', 'streamed', '1-00000000000000000000000000000000'), (e: unknown) => e instanceof CouchError && e.status === 409);
  } finally {
    direct.close();
    overHttp.close();
    await couch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
