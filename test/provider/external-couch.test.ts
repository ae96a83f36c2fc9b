import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { startEmbeddedCouch } from '../../src/provider/couchdb/embedded.js';
import { startProvider } from '../../src/provider/index.js';
import { api, makeKey, publishKey } from './helpers.js';

/**
 * Stands in for an Apache CouchDB with an admin account: refuses any request
 * without the admin's Basic credentials, forwards the rest to an embedded server.
 */
async function adminOnlyCouch(upstreamUrl: string, user: string, pass: string) {
  const expected = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
  const upstream = new URL(upstreamUrl);
  let refused = 0;
  // When set, a document write to a user database (POST of a streamed body or
  // multipart PUT) is cut off after its first bytes (a storage failure mid-upload).
  let failUploads = false;
  const server = http.createServer((req, res) => {
    const upload = (req.method === 'POST' && /^\/user-[0-9a-f]+$/.test(req.url ?? '')) || (req.method === 'PUT' && /^\/user-[0-9a-f]+\/[^/]+$/.test(req.url ?? ''));
    if (failUploads && upload) {
      req.once('data', () => req.socket.destroy());
      return;
    }
    if (req.headers.authorization !== expected) {
      refused++;
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized","reason":"admin only"}');
      return;
    }
    const headers = { ...req.headers, host: upstream.host };
    delete headers.authorization;
    const out = http.request({ hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address() as AddressInfo;
  return {
    url: `http://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@127.0.0.1:${port.port}/`,
    refused: () => refused,
    failUploads: (on: boolean) => {
      failUploads = on;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

test('external CouchDB by URL: admin credentials from the URL; two provider processes share accounts, keys and db names', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
  const couch = await startEmbeddedCouch({ dataDir: path.join(dir, 'couch') });
  const admin = await adminOnlyCouch(couch.url, 'admin', 'p@ss:word');
  const common = { domains: ['example.org'], couchUrl: admin.url, scrypt: { N: 1024 } };
  const front = await startProvider({ ...common, dataDir: path.join(dir, 'front') });
  const mx = await startProvider({ ...common, dataDir: path.join(dir, 'mx') });
  try {
    // Register and publish the key on one process...
    const password = 'shared cluster password';
    assert.equal((await api(front, 'POST', '/api/accounts', { address: 'alice@example.org', password })).status, 201);
    const login = (await (await api(front, 'POST', '/api/sessions', { address: 'alice@example.org', password })).json()) as { token: string; couchUrl: string };
    const key = await makeKey('alice@example.org');
    assert.equal((await publishKey(front, { address: 'alice@example.org', token: login.token, couchUrl: login.couchUrl }, key.publicKey)).status, 200);

    // ...the other process knows the account, the token, the key and the same database name.
    const login2 = (await (await api(mx, 'POST', '/api/sessions', { address: 'alice@example.org', password })).json()) as { couchUrl: string };
    assert.equal(new URL(login2.couchUrl).pathname, new URL(login.couchUrl).pathname);
    const viaOther = await fetch(new URL(new URL(login.couchUrl).pathname, mx.httpUrl), { headers: { authorization: `Bearer ${login.token}` } });
    assert.equal(viaOther.status, 200);

    // Mail into the second process's MX shows up through the first one's gateway.
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: mx.mxPort, secure: false, ignoreTLS: true });
    await t.sendMail({ envelope: { from: 's@outside.net', to: ['alice@example.org'] }, raw: 'Subject: cluster\r\n\r\nhello\r\n' });
    t.close();
    const docs = (await (await fetch(`${login.couchUrl}/_all_docs`, { headers: { authorization: `Bearer ${login.token}` } })).json()) as { rows: Array<{ id: string }> };
    assert.equal(docs.rows.length, 1);
    assert.match(docs.rows[0]!.id, /^incoming-/);

    // Every request to the database carried the admin credentials.
    assert.equal(admin.refused(), 0);
    const anonymous = await fetch(admin.url.replace(/\/\/[^@]+@/, '//') + '_all_dbs');
    assert.equal(anonymous.status, 401);
  } finally {
    await front.close();
    await mx.close();
    await admin.close();
    await couch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('MX: a storage failure in the middle of an upload → 451, nothing stored, and the retry succeeds', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
  const couch = await startEmbeddedCouch({ dataDir: path.join(dir, 'couch') });
  const admin = await adminOnlyCouch(couch.url, 'admin', 'secret');
  const p = await startProvider({ domains: ['example.org'], couchUrl: admin.url, scrypt: { N: 1024 }, dataDir: path.join(dir, 'p') });
  try {
    const password = 'storage failure test';
    await api(p, 'POST', '/api/accounts', { address: 'alice@example.org', password });
    const login = (await (await api(p, 'POST', '/api/sessions', { address: 'alice@example.org', password })).json()) as { token: string; couchUrl: string };
    const key = await makeKey('alice@example.org');
    assert.equal((await publishKey(p, { address: 'alice@example.org', token: login.token, couchUrl: login.couchUrl }, key.publicKey)).status, 200);

    const raw = 'Subject: retry\r\n\r\n' + 'body line\r\n'.repeat(5000);
    const send = () => {
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: p.mxPort, secure: false, ignoreTLS: true });
      return t.sendMail({ envelope: { from: 's@outside.net', to: ['alice@example.org'] }, raw }).finally(() => t.close());
    };
    admin.failUploads(true);
    await assert.rejects(send(), (e: { responseCode?: number }) => e.responseCode === 451);
    admin.failUploads(false);
    const count = async () => ((await (await fetch(login.couchUrl, { headers: { authorization: `Bearer ${login.token}` } })).json()) as { doc_count: number }).doc_count;
    assert.equal(await count(), 0);
    await send();
    assert.equal(await count(), 1);
  } finally {
    await p.close();
    await admin.close();
    await couch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
