import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import PouchDB from 'pouchdb';
import { makeKey, publishKey, registerAndLogin, startTestProvider } from './helpers.js';

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

test('gateway: user isolation — 401 without/invalid token, 403 on another user, server endpoints and code-running paths', async () => {
  const p = await startTestProvider();
  try {
    const a = await registerAndLogin(p, 'a@example.org');
    const b = await registerAndLogin(p, 'b@example.org');
    assert.notEqual(a.couchUrl, b.couchUrl);

    // No token / bad token → 401 everywhere, including server endpoints.
    for (const url of [b.couchUrl, a.couchUrl, p.httpUrl + '_all_dbs', p.httpUrl + '_config']) {
      assert.equal((await fetch(url)).status, 401, url);
      assert.equal((await fetch(url, { headers: bearer('x'.repeat(43)) })).status, 401, url);
    }
    // A's token on B's database (read, write, changes) → 403.
    assert.equal((await fetch(b.couchUrl, { headers: bearer(a.token) })).status, 403);
    assert.equal((await fetch(b.couchUrl + '/_changes', { headers: bearer(a.token) })).status, 403);
    const write = await fetch(b.couchUrl + '/stolen', { method: 'PUT', headers: { ...bearer(a.token), 'content-type': 'application/json' }, body: '{}' });
    assert.equal(write.status, 403);
    assert.equal(((await (await fetch(b.couchUrl, { headers: bearer(b.token) })).json()) as { doc_count: number }).doc_count, 0);
    // Server-level endpoints and internal databases → 403 even with a valid token.
    for (const u of ['_all_dbs', '_config', '_users', 'sealmail_accounts', 'sealmail_sessions/_all_docs']) {
      assert.equal((await fetch(p.httpUrl + u, { headers: bearer(a.token) })).status, 403, u);
    }
    // Own database, but paths that would run user code or change the db → 403.
    const own = a.couchUrl;
    assert.equal((await fetch(own + '/_design/x', { headers: bearer(a.token) })).status, 403);
    assert.equal((await fetch(own + '/_temp_view', { method: 'POST', headers: bearer(a.token) })).status, 403);
    assert.equal((await fetch(own + '/_changes?filter=evil/f', { headers: bearer(a.token) })).status, 403);
    assert.equal((await fetch(own, { method: 'DELETE', headers: bearer(a.token) })).status, 403);
    assert.equal((await fetch(own + '/_security', { headers: bearer(a.token) })).status, 403);
    // Own database: allowed, with Bearer and with Basic address:token.
    assert.equal((await fetch(own, { headers: bearer(a.token) })).status, 200);
    const basic = 'Basic ' + Buffer.from(`a@example.org:${a.token}`).toString('base64');
    assert.equal((await fetch(own, { headers: { authorization: basic } })).status, 200);
    const wrongBasic = 'Basic ' + Buffer.from(`b@example.org:${a.token}`).toString('base64');
    assert.equal((await fetch(own, { headers: { authorization: wrongBasic } })).status, 401);

    // Key directory: A cannot publish B's key.
    const bKey = await makeKey('b@example.org');
    assert.equal((await publishKey(p, { ...b, token: a.token }, bKey.publicKey)).status, 403);
    assert.equal((await fetch(new URL('/keys/b@example.org', p.httpUrl), { method: 'PUT', body: bKey.publicKey })).status, 401);
    assert.equal((await fetch(new URL('/keys/b@example.org', p.httpUrl))).status, 404);
  } finally {
    await p.dispose();
  }
});

test('gateway: a PouchDB client replicates its own database (docs, attachments, checkpoints, live changes)', async () => {
  const p = await startTestProvider();
  const clientDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
  const local = new PouchDB(path.join(clientDir, 'local'));
  const other = new PouchDB(path.join(clientDir, 'other'));
  try {
    const s = await registerAndLogin(p, 'dora@example.org');
    const remote = () => new PouchDB(s.couchUrl, { fetch: (url, opts) => {
      const headers = new Headers(opts?.headers);
      headers.set('authorization', `Bearer ${s.token}`);
      return PouchDB.fetch(url, { ...opts, headers });
    } } as PouchDB.Configuration.RemoteDatabaseConfiguration);
    const blob = Buffer.alloc(300_000);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 7919) & 0xff;
    await local.put({ _id: 'doc-1', n: 1 });
    await local.put({ _id: 'doc-2', n: 2, _attachments: { 'part.bin': { content_type: 'application/octet-stream', data: blob } } });
    const r1 = remote();
    const pushed = await local.replicate.to(r1);
    assert.equal(pushed.docs_written, 2);
    // A second replication starts from the checkpoint (_local doc) and writes nothing.
    const again = await local.replicate.to(r1);
    assert.equal(again.docs_written, 0);
    assert.equal(again.docs_read, 0);

    // A second device pulls everything, attachment bytes intact.
    const pulled = await other.replicate.from(r1);
    assert.equal(pulled.docs_written, 2);
    const att = (await other.getAttachment('doc-2', 'part.bin')) as Buffer;
    assert.ok(Buffer.compare(att, blob) === 0);

    // Live (continuous) pull: a change pushed by the first device arrives through the open feed.
    const liveRemote = remote();
    const live = other.replicate.from(liveRemote, { live: true, retry: false });
    const completed = new Promise<void>((resolve) => live.on('complete', () => resolve()));
    const arrived = new Promise<void>((resolve) => {
      live.on('change', (info) => {
        if (info.docs.some((d) => d._id === 'doc-3')) resolve();
      });
    });
    await new Promise((r) => setTimeout(r, 200));
    await local.put({ _id: 'doc-3', n: 3 });
    await local.replicate.to(r1);
    await arrived;
    live.cancel();
    await completed;
    await liveRemote.close();
    assert.equal(((await other.get('doc-3')) as unknown as { n: number }).n, 3);
    await r1.close();
  } finally {
    await local.close();
    await other.close();
    await p.dispose();
    fs.rmSync(clientDir, { recursive: true, force: true });
  }
});

test('gateway: a longpoll _changes request stays open until a change arrives (no proxy timeout, not buffered)', async () => {
  const p = await startTestProvider();
  try {
    const s = await registerAndLogin(p, 'erin@example.org');
    // The embedded server leaks continuous feeds, so the gateway offers longpoll only.
    assert.equal((await fetch(`${s.couchUrl}/_changes?feed=continuous`, { headers: bearer(s.token) })).status, 403);
    const started = Date.now();
    const poll = fetch(`${s.couchUrl}/_changes?feed=longpoll&since=now&heartbeat=200`, { headers: bearer(s.token) }).then(async (r) => ({ status: r.status, text: await r.text(), at: Date.now() }));
    // Written 800 ms later (several heartbeats): the open request answers with it.
    await new Promise((r) => setTimeout(r, 800));
    const put = await fetch(`${s.couchUrl}/late-doc`, { method: 'PUT', headers: { ...bearer(s.token), 'content-type': 'application/json' }, body: '{"x":1}' });
    assert.equal(put.status, 201);
    const res = await poll;
    assert.equal(res.status, 200);
    assert.ok(res.at - started >= 800, 'the poll waited for the change');
    assert.equal((JSON.parse(res.text) as { results: Array<{ id: string }> }).results[0]!.id, 'late-doc');
  } finally {
    await p.dispose();
  }
});

test('gateway: request bodies over the limit get 413 (declared or chunked) and are not forwarded', async () => {
  // maxMessageSize 1 KB → the gateway limit is 16 MB + 1.4 KB.
  const p = await startTestProvider({ maxMessageSize: 1024 });
  try {
    const s = await registerAndLogin(p, 'fred@example.org');
    const big = Buffer.alloc(17 * 1024 * 1024, 0x20);
    const body = Buffer.concat([Buffer.from('{"docs":[{"_id":"x","pad":"'), big, Buffer.from('"}]}')]);
    const declared = await fetch(`${s.couchUrl}/_bulk_docs`, { method: 'POST', headers: { ...bearer(s.token), 'content-type': 'application/json' }, body });
    assert.equal(declared.status, 413);
    const chunked = await fetch(`${s.couchUrl}/_bulk_docs`, {
      method: 'POST',
      headers: { ...bearer(s.token), 'content-type': 'application/json' },
      body: new ReadableStream({
        start(c) {
          for (let o = 0; o < body.length; o += 1 << 20) c.enqueue(body.subarray(o, o + (1 << 20)));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(chunked.status, 413);
    const info = (await (await fetch(s.couchUrl, { headers: bearer(s.token) })).json()) as { doc_count: number };
    assert.equal(info.doc_count, 0);
    // A normal request still works.
    const ok = await fetch(`${s.couchUrl}/_bulk_docs`, { method: 'POST', headers: { ...bearer(s.token), 'content-type': 'application/json' }, body: '{"docs":[{"_id":"small"}]}' });
    assert.equal(ok.status, 201);
  } finally {
    await p.dispose();
  }
});
