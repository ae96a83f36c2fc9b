// The outgoing queue's promises: written before 250, retried while the
// provider is down, delivered exactly once, even across a daemon restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { Soledad } from '../../src/soledad/index.js';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import type { DocumentStore } from '../../src/soledad/types.js';
import { KeyManager } from '../../src/keymanager/index.js';
import { OutgoingQueue, startSmtpGateway, type SmtpGateway } from '../../src/smtp/index.js';
import { freePort, SINK_TOKEN, SINK_USER, startSink, type Sink } from './sink.js';

const ALICE = SINK_USER;
const BOB = 'bob@example.net';

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function waitFor(cond: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('outgoing queue', () => {
  let keys: KeyManager;

  before(async () => {
    keys = new KeyManager({ store: new MemoryDocumentStore(), address: ALICE, wkd: false });
    await keys.ensureOwnKey();
  });

  /** One "daemon run": a queue and a gateway over the same durable store. */
  async function startDaemon(store: DocumentStore, sinkPort: number, km: KeyManager = keys): Promise<{ queue: OutgoingQueue; gateway: SmtpGateway; stop(): Promise<void> }> {
    const queue = new OutgoingQueue({
      store,
      relay: { host: '127.0.0.1', port: sinkPort, user: SINK_USER, token: SINK_TOKEN, timeoutMs: 2000 },
      deliverBounce: async () => assert.fail('nothing bounces here'),
      backoff: { initialMs: 40, factor: 2, maxMs: 200 },
    });
    await queue.start();
    const gateway = await startSmtpGateway({ port: 0, queue, accounts: [{ address: ALICE, password: 'pw', keymanager: km, alwaysEncrypt: false }] });
    return { queue, gateway, stop: async () => { await gateway.close(); await queue.stop(); } };
  }

  const submit = (port: number, id: string) =>
    nodemailer
      .createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, auth: { user: ALICE, pass: 'pw' } })
      .sendMail({ envelope: { from: ALICE, to: [BOB] }, raw: `From: ${ALICE}\r\nTo: ${BOB}\r\nSubject: q\r\nMessage-ID: <${id}@example.org>\r\n\r\nqueued body\r\n` });

  let sink: Sink | null = null;
  after(async () => sink?.close());

  it('provider down, daemon restarted (Soledad closed and reopened), provider up: delivered exactly once', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
    const open: Array<{ close(): Promise<void> }> = [];
    try {
      const port = await freePort();
      let sol = await Soledad.create({ dataDir, passphrase: 'pw', kdf: { N: 2 ** 10, r: 8, p: 1 } });
      open.push(sol);
      let km = new KeyManager({ store: sol, address: ALICE, wkd: false });
      const fpr = (await km.ensureOwnKey()).fingerprint;
      const run1 = await startDaemon(sol.local, port, km);
      open.unshift({ close: run1.stop });
      const info = await submit(run1.gateway.port, 'restart-1');
      assert.match(info.response, /^250 /);
      // Queued durably before the 250: the item is in the store, not yet sent.
      const queued = await run1.queue.list();
      const direct = await sol.local.get('outgoing', OutgoingQueue.itemId('<restart-1@example.org>', ALICE, BOB));
      assert.equal(queued.length, 1, `one queued item, found ${JSON.stringify(queued)}; direct get: ${JSON.stringify(direct)}`);
      const [item] = queued;
      assert.equal(item.state, 'queued');
      assert.ok(await sol.local.hasBlob(item.blobId));
      await waitFor(async () => ((await run1.queue.get(item.id))?.attempts ?? 0) >= 2);
      const failed = await run1.queue.get(item.id);
      assert.match(failed?.lastError ?? '', /ECONNREFUSED|connect/i);
      await run1.stop();
      await sol.close();

      sol = await Soledad.open({ dataDir, passphrase: 'pw' });
      open.push(sol);
      km = new KeyManager({ store: sol, address: ALICE, wkd: false });
      assert.equal((await km.ensureOwnKey()).fingerprint, fpr, 'own key survives the restart');
      const run2 = await startDaemon(sol.local, port, km);
      open.unshift({ close: run2.stop });
      sink = await startSink(port);
      await waitFor(async () => (await run2.queue.get(item.id))?.state === 'sent');
      // Resubmitting the same message (a client retry after a lost 250) does not queue it again.
      await submit(run2.gateway.port, 'restart-1');
      await new Promise((r) => setTimeout(r, 400)); // several backoff periods
      await run2.stop();
      await sol.close();

      sol = await Soledad.open({ dataDir, passphrase: 'pw' });
      open.push(sol);
      const run3 = await startDaemon(sol.local, port, km);
      await new Promise((r) => setTimeout(r, 200));
      await run3.stop();

      assert.equal(sink.received.length, 1, 'exactly one delivery');
      assert.deepEqual(sink.received[0].to, [BOB]);
      assert.match(sink.received[0].raw.toString(), /Message-ID: <restart-1@example\.org>/);
      const done = await sol.local.get<{ state: string }>('outgoing', item.id);
      assert.equal(done?.state, 'sent');
      assert.equal(await sol.local.hasBlob(item.blobId), false, 'bytes dropped once sent');
    } finally {
      // Stopping twice is harmless; this also cleans up after a failed assertion so the file never hangs.
      for (const o of open) await o.close().catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('retries a 4xx with backoff, then delivers once', async () => {
    sink ??= await startSink();
    sink.received.length = 0;
    sink.rules.set(BOB, { code: 451, text: '4.3.2 try later', times: 2 });
    const store = new MemoryDocumentStore();
    const run = await startDaemon(store, sink.port);
    await submit(run.gateway.port, 'retry-1');
    const [item] = await run.queue.list();
    await waitFor(async () => (await run.queue.get(item.id))?.state === 'sent');
    const done = await run.queue.get(item.id);
    await run.stop();
    assert.equal(done?.attempts, 3);
    assert.equal(sink.received.length, 1);
  });

  it('an unexpected failure (no relay configured yet) keeps the item queued instead of crashing', async () => {
    sink ??= await startSink();
    sink.received.length = 0;
    let broken = true;
    const queue = new OutgoingQueue({
      store: new MemoryDocumentStore(),
      relay: () => {
        if (broken) throw new Error('no relay for this sender yet');
        return { host: '127.0.0.1', port: sink!.port, user: SINK_USER, token: SINK_TOKEN };
      },
      deliverBounce: async () => assert.fail('nothing bounces here'),
      backoff: { initialMs: 30, maxMs: 60 },
    });
    await queue.start();
    const item = await queue.enqueue({ from: ALICE, to: BOB, messageId: '<norelay@example.org>', raw: Buffer.from('Subject: r\r\n\r\nx\r\n') });
    await waitFor(async () => ((await queue.get(item.id))?.attempts ?? 0) >= 2);
    assert.equal((await queue.get(item.id))?.state, 'queued');
    assert.match((await queue.get(item.id))?.lastError ?? '', /no relay/);
    broken = false;
    await waitFor(async () => (await queue.get(item.id))?.state === 'sent');
    await queue.stop();
    assert.equal(sink.received.length, 1);
  });

  it('gives up after the configured age with a bounce, not silently', async () => {
    const port = await freePort();
    const store = new MemoryDocumentStore();
    const bounces: Buffer[] = [];
    const queue = new OutgoingQueue({
      store,
      relay: { host: '127.0.0.1', port, user: SINK_USER, token: SINK_TOKEN },
      deliverBounce: async (raw) => void bounces.push(raw),
      backoff: { initialMs: 30, maxMs: 60, giveUpAfterMs: 150 },
    });
    await queue.start();
    const item = await queue.enqueue({ from: ALICE, to: BOB, messageId: '<old@example.org>', raw: Buffer.from('Subject: old\r\n\r\nx\r\n') });
    await waitFor(async () => (await queue.get(item.id))?.state === 'bounced');
    await queue.stop();
    assert.equal(bounces.length, 1);
    assert.match(bounces[0].toString(), /Status: 4\.4\.7/);
    assert.match(bounces[0].toString(), /Subject: old/);
    // Done items are kept a while (to dedupe resubmissions), then forgotten at a later start.
    const later = new OutgoingQueue({
      store, relay: { host: '127.0.0.1', port, user: SINK_USER, token: SINK_TOKEN }, deliverBounce: async () => undefined,
      now: () => new Date(Date.now() + 8 * 24 * 3600_000),
    });
    assert.equal((await later.list()).length, 1);
    await later.start();
    await later.stop();
    assert.equal((await later.list()).length, 0);
  });
  it('spools a submission as it arrives: over the limit nothing is kept; a spool a crash left behind is removed at start', async () => {
    const store = new MemoryDocumentStore();
    const queue = new OutgoingQueue({ store, relay: { host: '127.0.0.1', port: 1, user: SINK_USER, token: SINK_TOKEN }, deliverBounce: async () => undefined });
    const chunks = async function* (n: number): AsyncGenerator<Buffer> {
      for (let i = 0; i < n; i++) yield Buffer.alloc(1000, 0x61);
    };
    assert.equal(await queue.spool(chunks(11), 10_000), null, 'over the limit (in memory)');
    assert.equal(await queue.spool(chunks(11), 10_000, 0), null, 'over the limit (in the store)');
    assert.equal((await all(store.query('outgoing-spool'))).length, 0, 'nothing kept of it');
    const small = await queue.spool(chunks(10), 10_000);
    assert.equal(small?.size, 10_000);
    assert.equal((await all(store.query('outgoing-spool'))).length, 0, 'a small one stays in memory');
    // Past the in-memory limit (0 here) it goes to the store as it arrives.
    const spool = await queue.spool(chunks(10), 10_000, 0);
    assert.equal(spool?.size, 10_000);
    let read = 0;
    for await (const c of spool!.open()) read += (c as Buffer).length;
    assert.equal(read, 10_000, 'read back whole');
    const [left] = await all(store.query('outgoing-spool'));
    assert.ok(left && (await store.hasBlob(left.id)));
    // The daemon dies here (no discard); the next start removes it.
    await queue.start();
    await queue.stop();
    assert.equal((await all(store.query('outgoing-spool'))).length, 0);
    assert.equal(await store.hasBlob(left.id), false);
  });
});
