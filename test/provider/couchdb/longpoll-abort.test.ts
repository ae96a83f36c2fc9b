// A longpoll _changes request whose client goes away at once (PouchDB
// stopping a live replication, a CLI exiting) must not leave its live feed
// and heartbeat interval behind on the embedded server: express-pouchdb
// listens for the connection's close only after its first read of the
// changes. Left behind, the 10 s interval kept a test process alive after its
// tests had passed (test/cli/key-type.test.ts, ~15 minutes once).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedCouch } from '../../../src/provider/couchdb/embedded.js';

/** Timers keeping this process alive (the test runner's own are there before and after). */
const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('longpoll _changes requests aborted right away leave no live feed or heartbeat timer behind', { timeout: 60_000 }, async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-longpoll-'));
  const couch = await startEmbeddedCouch({ dataDir, compaction: false });
  t.after(async () => {
    await couch.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  assert.equal((await fetch(`${couch.url}db1`, { method: 'PUT' })).status, 201);
  for (let i = 0; i < 20; i++) {
    const put = await fetch(`${couch.url}db1/doc${i}`, { method: 'PUT', body: JSON.stringify({ i }), headers: { 'content-type': 'application/json' } });
    assert.equal(put.status, 201);
  }
  const baseline = timers();

  // Aborted 0-7 ms after sending: some before express-pouchdb's first changes read returns, some after.
  const aborted = 40;
  for (let i = 0; i < aborted; i++) {
    const req = http.get(`${couch.url}db1/_changes?feed=longpoll&heartbeat=10000&since=now`, { agent: false });
    req.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, i % 8));
    req.destroy();
  }
  // While the server runs on: every aborted poll's feed is cancelled and its heartbeat cleared.
  const deadline = Date.now() + 20_000;
  while (timers() > baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(timers(), baseline, `timers left by ${aborted} aborted longpolls`);

  // A longpoll that stays open still gets its change, and the server still answers.
  const waiting = fetch(`${couch.url}db1/_changes?feed=longpoll&heartbeat=10000&since=now`).then((r) => r.json() as Promise<{ results: Array<{ id: string }> }>);
  await new Promise((r) => setTimeout(r, 200));
  await fetch(`${couch.url}db1/late`, { method: 'PUT', body: '{}', headers: { 'content-type': 'application/json' } });
  assert.deepEqual((await waiting).results.map((c) => c.id), ['late']);
});
