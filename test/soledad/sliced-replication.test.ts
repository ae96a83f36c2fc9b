// Replication moves attachment data in slices of bounded bytes, whatever the
// batch's document count (sliced-replication.ts): on a push each _bulk_docs
// request to the server, on a pull each local write, holds at most ~2 MiB of
// attachments, and every document arrives intact, in one-shot and live sync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SyncController } from '../../src/soledad/sync.js';
import { ATTACHMENT_BYTES_PER_WRITE } from '../../src/soledad/sliced-replication.js';
import { openLocal, openRemote, type Pouch } from '../../src/soledad/pouch.js';
import { Scratch, createDb } from './helpers.js';

const ATT = 200_000;
/** 30 documents of 200 kB (6 MB, one batch of 100 documents by count) among 60 small ones. */
const BIG_DOCS = 30;
const SMALL_DOCS = 60;

/** A proxy in front of the server recording the size of every _bulk_docs request body. */
async function recordingProxy(target: string): Promise<{ url: string; bulkBodies: number[]; close(): Promise<void> }> {
  const upstream = new URL(target);
  const bulkBodies: number[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    let bytes = 0;
    if (req.method === 'POST' && req.url?.includes('/_bulk_docs')) {
      req.on('data', (d: Buffer) => (bytes += d.length));
      req.on('end', () => bulkBodies.push(bytes));
    }
    const fwd = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent: false }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    bulkBodies,
    close: () => new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve()))),
  };
}

/** Writes the big and small documents, interleaved, in a few bulk writes; returns each big one's attachment digest. */
async function writeDocs(db: Pouch, tag: string): Promise<Map<string, string>> {
  const digests = new Map<string, string>();
  const docs: Array<Record<string, unknown>> = [];
  for (let i = 0; i < BIG_DOCS + SMALL_DOCS; i++) {
    if (i % 3 === 0 && digests.size < BIG_DOCS) {
      const data = crypto.randomBytes(ATT);
      const id = `${tag}-big-${i}`;
      digests.set(id, crypto.createHash('sha256').update(data).digest('hex'));
      docs.push({ _id: id, n: i, _attachments: { c: { content_type: 'application/octet-stream', data } } });
    } else {
      docs.push({ _id: `${tag}-small-${i}`, n: i });
    }
  }
  for (let at = 0; at < docs.length; at += 20) await db.bulkDocs(docs.slice(at, at + 20) as never);
  return digests;
}

/** Every document of `tag` present in `db`, each big one's attachment byte-exact. */
async function assertArrived(db: Pouch, tag: string, digests: Map<string, string>): Promise<void> {
  const all = await db.allDocs({ startkey: `${tag}-`, endkey: `${tag}-\uffff` });
  assert.equal(all.rows.length, BIG_DOCS + SMALL_DOCS, `${tag}: every document`);
  for (const [id, digest] of digests) {
    const data = (await db.getAttachment(id, 'c')) as Buffer;
    assert.equal(crypto.createHash('sha256').update(data).digest('hex'), digest, `${id}: attachment intact`);
  }
}

/** Records, for each replication write to `db` (new_edits=false), its attachment bytes. */
function recordReplicationWrites(db: Pouch): number[] {
  const sizes: number[] = [];
  const original = db.bulkDocs.bind(db) as (...a: unknown[]) => unknown;
  (db as unknown as { bulkDocs: unknown }).bulkDocs = (...args: unknown[]): unknown => {
    const req = args[0] as { docs?: Array<{ _attachments?: Record<string, { data?: unknown }> }>; new_edits?: boolean };
    if (req?.new_edits === false) {
      let bytes = 0;
      for (const d of req.docs ?? []) for (const a of Object.values(d._attachments ?? {})) if (Buffer.isBuffer(a.data)) bytes += a.data.length;
      sizes.push(bytes);
    }
    return original(...args);
  };
  return sizes;
}

/** A slice is at most the limit, or one document over it. */
function assertBounded(sizes: number[], what: string): void {
  assert.ok(sizes.length > 0, `${what}: writes seen`);
  for (const size of sizes) assert.ok(size <= ATTACHMENT_BYTES_PER_WRITE + ATT, `${what}: a write of ${size} bytes`);
  const total = sizes.reduce((a, b) => a + b, 0);
  assert.ok(total >= BIG_DOCS * ATT, `${what}: all attachment bytes went through (${total})`);
  assert.ok(sizes.filter((s) => s > 0).length >= Math.ceil((BIG_DOCS * ATT) / (ATTACHMENT_BYTES_PER_WRITE + ATT)), `${what}: in several slices`);
}

test('one-shot push and pull move a batch of large attachments in slices of bounded bytes', async () => {
  const s = new Scratch();
  try {
    const couch = await s.couch();
    const url = await createDb(couch, 'alice');
    const proxy = s.defer(await recordingProxy(couch.url));
    const a = s.defer(openLocal(s.dir(), 'a'));
    const b = s.defer(openLocal(s.dir(), 'b'));
    const digests = await writeDocs(a, 'x');

    const syncA = new SyncController(a, s.defer(openRemote({ url: proxy.url + 'alice' })));
    assert.deepEqual(await syncA.syncOnce(), { pulled: 0, pushed: BIG_DOCS + SMALL_DOCS });
    // base64 makes 4/3 of the bytes, plus the JSON around them.
    const bodyLimit = ((ATTACHMENT_BYTES_PER_WRITE + ATT) * 4) / 3 + 64 * 1024;
    for (const body of proxy.bulkBodies) assert.ok(body <= bodyLimit, `push: a _bulk_docs body of ${body} bytes`);
    assert.ok(proxy.bulkBodies.length >= 3, `push: several requests (${proxy.bulkBodies.length})`);

    const writes = recordReplicationWrites(b);
    const syncB = new SyncController(b, s.defer(openRemote({ url })));
    assert.deepEqual(await syncB.syncOnce(undefined, { push: false }), { pulled: BIG_DOCS + SMALL_DOCS, pushed: 0 });
    assertBounded(writes, 'pull');
    await assertArrived(b, 'x', digests);
  } finally {
    await s.cleanup();
  }
});

test('live sync moves large attachments in bounded slices both ways, and documents written meanwhile follow', async () => {
  const s = new Scratch();
  try {
    const couch = await s.couch();
    const url = await createDb(couch, 'alice');
    const a = s.defer(openLocal(s.dir(), 'a'));
    const b = s.defer(openLocal(s.dir(), 'b'));
    const writesA = recordReplicationWrites(a);
    const writesB = recordReplicationWrites(b);
    const syncA = new SyncController(a, s.defer(openRemote({ url })), { backoff: { initialMs: 100, maxMs: 500 } });
    const syncB = new SyncController(b, s.defer(openRemote({ url })), { backoff: { initialMs: 100, maxMs: 500 } });
    syncA.start();
    syncB.start();
    s.defer({ close: () => syncA.stop() });
    s.defer({ close: () => syncB.stop() });
    // A writes, B receives; then B writes, A receives.
    const fromA = await writeDocs(a, 'a');
    const fromB = await writeDocs(b, 'b');
    const deadline = Date.now() + 45_000;
    const count = async (db: Pouch, tag: string): Promise<number> => (await db.allDocs({ startkey: `${tag}-`, endkey: `${tag}-\uffff` })).rows.length;
    while ((await count(b, 'a')) < BIG_DOCS + SMALL_DOCS || (await count(a, 'b')) < BIG_DOCS + SMALL_DOCS) {
      assert.ok(Date.now() < deadline, 'live sync did not bring every document across in 45 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    await assertArrived(b, 'a', fromA);
    await assertArrived(a, 'b', fromB);
    assertBounded(writesB, 'live pull to B');
    assertBounded(writesA, 'live pull to A');
  } finally {
    await s.cleanup();
  }
});
