// A provider that dies mid-replication must not take the daemon down.
// PouchDB's replicator asks the source database for info() after each batch
// (progress only) and never handles that promise's failure; the outage test
// saw the daemon exit with that unhandled rejection when the provider was
// SIGKILLed at that moment. openRemote's info() now yields promises whose
// derived chains are handled, while a caller that awaits still gets the error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openRemote } from '../../src/soledad/pouch.js';

test('a remote database whose server breaks off: info() rejects for the caller, and a dropped info().then(...) chain is no unhandled rejection', async (t) => {
  // Answers every request with headers and then an empty, cut-off JSON body, as a killed provider behind a proxy did.
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));

  const db = openRemote({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/userdb` });
  await assert.rejects(db.info(), /invalid json|Unexpected end/i, 'the caller that awaits gets the error');
  // What PouchDB's replicator does: a chain on info() that nobody handles.
  void db.info().then((i) => i.update_seq);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(unhandled.map((e) => (e as Error).message), [], 'no unhandled rejection');
  await db.close().catch(() => undefined);
});
