import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import PouchDB from 'pouchdb';
import { startEmbeddedCouch } from '../../../src/provider/couchdb/embedded.js';

function getJSON(url: string): Promise<any> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });
}

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
}

test('embedded CouchDB: create a db, put a doc, replicate to and from a PouchDB client, survive a restart', async () => {
  const serverDir = tmp();
  const clientDir = tmp();
  const cwdBefore = fs.readdirSync(process.cwd()).sort();
  let couch = await startEmbeddedCouch({ dataDir: serverDir });
  const local = new PouchDB(path.join(clientDir, 'local'));
  try {
    assert.match(couch.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const root = await (await fetch(couch.url)).json();
    assert.match(JSON.stringify(root), /Welcome/);

    const created = await fetch(couch.url + 'userdb', { method: 'PUT' });
    assert.equal(created.status, 201);
    const put = await fetch(couch.url + 'userdb/from-server', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hello: 'server' }),
    });
    assert.equal(put.status, 201);

    await local.put({ _id: 'from-client', hello: 'client' });
    const remote = new PouchDB(couch.url + 'userdb');
    const result = await local.sync(remote);
    assert.equal(result.push?.docs_written, 1);
    assert.equal(result.pull?.docs_written, 1);
    assert.equal(((await local.get('from-server')) as unknown as { hello: string }).hello, 'server');
    await remote.close();

    // Restart on the same data dir and port: the data is still there.
    const port = new URL(couch.url).port;
    await couch.close();
    couch = await startEmbeddedCouch({ dataDir: serverDir, port: Number(port) });
    // A fresh connection: fetch's keep-alive pool still holds sockets of the stopped server.
    const again = await getJSON(couch.url + 'userdb/from-client');
    assert.equal(again.hello, 'client');
    const all = await getJSON(couch.url + '_all_dbs');
    assert.deepEqual(all, ['userdb']);
    // Create and delete databases: the listing and lookups follow.
    assert.equal((await fetch(couch.url + 'second', { method: 'PUT' })).status, 201);
    assert.equal((await fetch(couch.url + 'second', { method: 'PUT' })).status, 412);
    assert.deepEqual(await (await fetch(couch.url + '_all_dbs')).json(), ['second', 'userdb']);
    assert.equal((await fetch(couch.url + 'second', { method: 'DELETE' })).status, 200);
    assert.equal((await fetch(couch.url + 'second')).status, 404);
    assert.equal((await fetch(couch.url + 'never-made/doc')).status, 404);
    assert.deepEqual(await (await fetch(couch.url + '_all_dbs')).json(), ['userdb']);
    // Nothing written into the working directory (no config.json, log.txt, db dirs).
    assert.deepEqual(fs.readdirSync(process.cwd()).sort(), cwdBefore);
  } finally {
    await local.close();
    await couch.close();
    fs.rmSync(serverDir, { recursive: true, force: true });
    fs.rmSync(clientDir, { recursive: true, force: true });
  }
});
