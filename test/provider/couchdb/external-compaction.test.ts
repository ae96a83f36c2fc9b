// Compaction with an external CouchDB (couchUrl). No Apache CouchDB here: a
// stand-in that asks for the admin's Basic credentials and forwards to an
// embedded server (whose express-pouchdb runs POST /{db}/_compact for real),
// reporting CouchDB 3's `sizes` and `compact_running` in GET /{db} as the
// test sets them, which the embedded server does not have.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startEmbeddedCouch } from '../../../src/provider/couchdb/embedded.js';
import { startProvider } from '../../../src/provider/index.js';
import { api } from '../helpers.js';

const MiB = 1024 * 1024;

interface Sizes {
  file: number;
  active: number;
  /** GETs still answering compact_running: true (after a _compact). */
  running: number;
}

async function couchStandIn(upstreamUrl: string, user: string, pass: string) {
  const expected = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
  const upstream = new URL(upstreamUrl);
  const sizes = new Map<string, Sizes>();
  const compactions: Array<{ db: string; contentType: string | undefined }> = [];
  let refused = 0;
  let infoWhileRunning = 0;
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      refused++;
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized","reason":"admin only"}');
      return;
    }
    const db = /^\/(user-[0-9a-f]+)(\/_compact)?$/.exec(req.url ?? '');
    if (db && req.method === 'POST' && db[2]) {
      compactions.push({ db: db[1]!, contentType: req.headers['content-type'] });
      const s = sizes.get(db[1]!);
      if (s) Object.assign(s, { running: 1, file: s.active });
    }
    const headers = { ...req.headers, host: upstream.host };
    delete headers.authorization;
    const out = http.request({ hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
      const s = db && req.method === 'GET' && !db[2] ? sizes.get(db[1]!) : undefined;
      if (!s) {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('end', () => {
        const info = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        const running = s.running > 0;
        if (running) {
          s.running--;
          infoWhileRunning++;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...info, sizes: { file: s.file, active: s.active, external: s.active }, compact_running: running }));
      });
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${user}:${pass}@127.0.0.1:${port}/`,
    sizes,
    compactions,
    refused: () => refused,
    infoWhileRunning: () => infoWhileRunning,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('external CouchDB: a user database with 16 MiB and 10% or more of dead data is compacted (admin credentials, JSON), one at a time, at most hourly; one with little is not', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
  const couch = await startEmbeddedCouch({ dataDir: path.join(dir, 'couch'), compaction: false });
  const standIn = await couchStandIn(couch.url, 'admin', 'secret');
  const p = await startProvider({ domains: ['example.org'], couchUrl: standIn.url, scrypt: { N: 1024 }, dataDir: path.join(dir, 'p'), compaction: { intervalMs: 3600_000 } });
  try {
    const dbOf = async (address: string): Promise<string> => {
      assert.equal((await api(p, 'POST', '/api/accounts', { address, password: 'a long password' })).status, 201);
      const login = (await (await api(p, 'POST', '/api/sessions', { address, password: 'a long password' })).json()) as { couchUrl: string };
      return new URL(login.couchUrl).pathname.replace(/^\/+|\/+$/g, '');
    };
    const alice = await dbOf('alice@example.org');
    const bob = await dbOf('bob@example.org');
    standIn.sizes.set(alice, { file: 100 * MiB, active: 20 * MiB, running: 0 });
    standIn.sizes.set(bob, { file: 100 * MiB, active: 95 * MiB, running: 0 });

    await p.compactNow();
    assert.deepEqual(standIn.compactions, [{ db: alice, contentType: 'application/json' }], 'only the database with 80 MiB of dead data');
    assert.ok(standIn.infoWhileRunning() >= 1, 'the pass waited for the compaction to finish');

    // Dead data again right away: not compacted twice within the hour.
    standIn.sizes.set(alice, { file: 100 * MiB, active: 20 * MiB, running: 0 });
    await p.compactNow();
    assert.equal(standIn.compactions.length, 1);
    assert.equal(standIn.refused(), 0, 'every request carried the admin credentials');
  } finally {
    await p.close();
    await standIn.close();
    await couch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
