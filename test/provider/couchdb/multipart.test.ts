import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedCouch } from '../../../src/provider/couchdb/embedded.js';
import { CouchClient, CouchError } from '../../../src/provider/store/couch-client.js';

test('embedded CouchDB: a multipart/related document PUT stores its binary attachments byte-exact; malformed bodies store nothing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
  const couch = await startEmbeddedCouch({ dataDir: dir });
  const client = new CouchClient(couch.url);
  try {
    await client.ensureDb('userdb');
    // Random bytes plus a line that looks like a delimiter and every byte value.
    const first = Buffer.concat([crypto.randomBytes(70_000), Buffer.from('\r\n--not-the-boundary\r\n'), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
    const second = Buffer.alloc(0);
    const rev = await client.putDocWithAttachments('userdb', { _id: 'doc-1', kind: 'test' }, [
      { name: 'a.bin', contentType: 'application/octet-stream', data: first },
      { name: 'empty', contentType: 'text/plain', data: second },
    ]);
    assert.match(rev, /^1-[0-9a-f]{32}$/);

    const doc = (await client.getDoc('userdb', 'doc-1')) as unknown as { kind: string; _attachments: Record<string, { length: number; content_type: string; digest: string; stub: boolean }> };
    assert.equal(doc.kind, 'test');
    assert.equal(doc._attachments['a.bin']!.length, first.length);
    assert.equal(doc._attachments['a.bin']!.content_type, 'application/octet-stream');
    assert.equal(doc._attachments['a.bin']!.digest, 'md5-' + crypto.createHash('md5').update(first).digest('base64'));
    assert.equal(doc._attachments.empty!.length, 0);
    const att = await client.request('GET', 'userdb/doc-1/a.bin');
    assert.equal(att.status, 200);
    assert.deepEqual(Buffer.from(await att.arrayBuffer()), first);

    // The same document again is a conflict, as with a JSON PUT.
    await assert.rejects(
      client.putDocWithAttachments('userdb', { _id: 'doc-1' }, [{ name: 'x', contentType: 'text/plain', data: Buffer.from('x') }]),
      (e: unknown) => e instanceof CouchError && e.status === 409,
    );

    const put = (id: string, body: string, contentType = 'multipart/related; boundary="b"') =>
      client.request('PUT', `userdb/${id}`, { headers: { 'content-type': contentType }, body });
    const json = (atts: object) => JSON.stringify({ _attachments: atts });
    // Declared length differs from the part.
    let res = await put('bad-length', `--b\r\ncontent-type: application/json\r\n\r\n${json({ a: { follows: true, content_type: 'text/plain', length: 5 } })}\r\n--b\r\n\r\nabc\r\n--b--`);
    assert.equal(res.status, 400);
    // Truncated: no closing delimiter after the attachment.
    res = await put('truncated', `--b\r\ncontent-type: application/json\r\n\r\n${json({ a: { follows: true, content_type: 'text/plain', length: 3 } })}\r\n--b\r\n\r\nabc`);
    assert.equal(res.status, 400);
    // More parts than stubs.
    res = await put('extra', `--b\r\n\r\n${json({})}\r\n--b\r\n\r\nabc\r\n--b--`);
    assert.equal(res.status, 400);
    // No boundary parameter.
    res = await put('no-boundary', `--b\r\n\r\n{}\r\n--b--`, 'multipart/related; type=application/json');
    assert.equal(res.status, 400);
    for (const id of ['bad-length', 'truncated', 'extra', 'no-boundary']) assert.equal(await client.getDoc('userdb', id), null, id);

    // A well-formed hand-written body without part headers (CouchDB accepts it too).
    res = await put('plain', `--b\r\n\r\n${json({ a: { follows: true, content_type: 'text/plain', length: 3 } })}\r\n--b\r\n\r\nabc\r\n--b--`);
    assert.equal(res.status, 201);
    assert.equal(await (await client.request('GET', 'userdb/plain/a')).text(), 'abc');
  } finally {
    client.close();
    await couch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
