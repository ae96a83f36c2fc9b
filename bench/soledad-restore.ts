// New-device restore of 10,000 messages (issue 3 benchmark, issue 9 figure 6).
// A first device delivers the messages through the mail store (what the
// fetch loop does: the blob's head document holding its metadata, the
// structure and the first 128 KiB chunk, one document per further chunk, the
// entry document, all sealed) and pushes them to the provider (embedded
// CouchDB server). A new device with URL + passphrase then restores: replicates
// everything, opens the mail store (index of every entry) and reads every
// message's structure and bytes back (decrypting every document and chunk).
// Peer, same run, same server: plain PouchDB replication of the same bytes
// unencrypted (per message: the raw message as an attachment, the structure
// JSON, the entry JSON), then reading every document and attachment.
// Goals: ratio <= 2x, time < 60 s on the 2-core machine. The note gives the
// documents replicated per message and both sides' CPU time (this process
// runs client and server: steadier than wall time when the machine is busy).
// Messages: bench/mail-store-corpus.ts (log-normal around 15 KB, 4 of 3 MB).
// Usage: npx tsx bench/soledad-restore.ts [--quick]   (--quick: 1,000 messages)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import PouchDB from 'pouchdb';
import { Soledad } from '../src/soledad/index.js';
import { openMailStore } from '../src/mail/store/index.js';
import { startEmbeddedCouch } from '../src/provider/couchdb/embedded.js';
import { corpusMessage } from './mail-store-corpus.js';
import { BENCH_KDF } from './soledad-put.js';
import { runWhenMain, type BenchResult } from './result.js';

/** Replication batch size, the same for both sides: Soledad's default (SyncController). */
const BATCH = 100;

type PlainDb = PouchDB.Database<Record<string, unknown>>;

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

async function drain(stream: NodeJS.ReadableStream): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  return n;
}

/** Reads every document of a plain database, and every attachment, in pages. */
async function readAllPlain(db: PlainDb): Promise<{ docs: number; bytes: number }> {
  let docs = 0;
  let bytes = 0;
  let startkey: string | undefined;
  for (;;) {
    const page = await db.allDocs({ include_docs: true, attachments: true, binary: true, limit: 200, ...(startkey ? { startkey, skip: 1 } : {}) });
    for (const row of page.rows) {
      const doc = row.doc as { _attachments?: Record<string, { data: Buffer }> } | undefined;
      if (!doc) continue;
      docs++;
      for (const a of Object.values(doc._attachments ?? {})) bytes += a.data.length;
    }
    if (page.rows.length < 200) break;
    startkey = page.rows.at(-1)!.id;
  }
  return { docs, bytes };
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const n = opts.quick ? 1000 : 10_000;
  const bigEvery = opts.quick ? 250 : 2500;
  const messages = Array.from({ length: n }, (_, i) => corpusMessage(i, bigEvery));
  const totalBytes = messages.reduce((s, m) => s + m.length, 0);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-bench-'));
  const couch = await startEmbeddedCouch({ dataDir: path.join(dir, 'server') });
  try {
    for (const db of ['plain', 'alice']) await fetch(couch.url + db, { method: 'PUT' });

    // Seed through a first device (as the fetch loop would), then push.
    const first = await Soledad.create({ dataDir: path.join(dir, 'first'), passphrase: 'bench', kdf: BENCH_KDF, remote: { url: couch.url + 'alice' }, liveSync: false });
    const firstMail = await openMailStore({ docs: first, local: first.local });
    const plainRemote: PlainDb = new PouchDB(couch.url + 'plain');
    let plainBatch: Array<Record<string, unknown>> = [];
    for (let i = 0; i < n; i++) {
      const r = await firstMail.deliver('INBOX', messages[i]!, { deliveryId: `incoming-${i}` });
      // The peer's documents: the same bytes, the same structure and entry, unencrypted.
      const hash = createHash('sha256').update(messages[i]!).digest('hex');
      const structure = await firstMail.structure(hash);
      plainBatch.push(
        { _id: `blob:${hash}`, _attachments: { raw: { content_type: 'message/rfc822', data: messages[i]!.toString('base64') } } },
        { _id: `structure:${hash}`, structure },
        { _id: `entry:${i}`, mailbox: 'INBOX', hash, uid: r.uid, size: messages[i]!.length, flags: {}, expunged: null },
      );
      if (plainBatch.length >= 300) {
        await plainRemote.bulkDocs(plainBatch);
        plainBatch = [];
      }
    }
    if (plainBatch.length > 0) await plainRemote.bulkDocs(plainBatch);
    await firstMail.close();
    await first.syncOnce();
    await first.close();

    // Peer: replicate + read every document and attachment.
    let t = performance.now();
    // CPU time of this process (client and embedded server both): steadier than wall time on a loaded machine.
    let cpu = process.cpuUsage();
    const plainLocal: PlainDb = new PouchDB(path.join(dir, 'plain-local'), { adapter: 'leveldb' } as PouchDB.Configuration.DatabaseConfiguration);
    await plainLocal.replicate.from(plainRemote, { batch_size: BATCH, batches_limit: 2 });
    const plainRead = await readAllPlain(plainLocal);
    const plainSeconds = (performance.now() - t) / 1000;
    const plainCpu = cpuSeconds(cpu);
    await plainLocal.close();
    await plainRemote.close();
    if (plainRead.docs !== 3 * n || plainRead.bytes !== totalBytes) throw new Error(`peer read ${plainRead.docs} docs, ${plainRead.bytes} bytes`);

    // Soledad: restore (fetch wrapped secret, replicate), open the mail store
    // (index every entry), then read every structure and every message back.
    t = performance.now();
    cpu = process.cpuUsage();
    let pulled = 0;
    const second = await Soledad.restore({
      dataDir: path.join(dir, 'second'),
      passphrase: 'bench',
      remote: { url: couch.url + 'alice' },
      liveSync: false,
      onPull: (change) => (pulled = Math.max(pulled, change.docs_written)), // cumulative per replication
    });
    const replicated = (performance.now() - t) / 1000;
    const mail = await openMailStore({ docs: second, local: second.local });
    const indexed = (performance.now() - t) / 1000;
    const { messages: listed } = await mail.messages('INBOX');
    let bytes = 0;
    for (const m of listed) {
      await mail.structure(m.hash);
      bytes += await drain(mail.read(m.hash));
    }
    const seconds = (performance.now() - t) / 1000;
    const restoreCpu = cpuSeconds(cpu);
    await mail.close();
    await second.close();
    if (listed.length !== n || bytes !== totalBytes) throw new Error(`restored ${listed.length} of ${n} messages, ${bytes} of ${totalBytes} bytes`);

    const sizes = messages.map((m) => m.length).sort((a, b) => a - b);
    return [
      {
        name: `new-device restore, ${n} messages (replicate + index + read every message)`,
        value: seconds,
        unit: 's',
        peer: { name: 'PouchDB replicate + read, unencrypted', value: plainSeconds },
        goal: 'ratio <= 2x, < 60 s',
        note:
          `replication ${replicated.toFixed(1)} s, index ready +${(indexed - replicated).toFixed(1)} s, read all +${(seconds - indexed).toFixed(1)} s; ` +
          `${(pulled / n).toFixed(2)} documents per message (peer 3); CPU ${restoreCpu.toFixed(1)} s vs ${plainCpu.toFixed(1)} s; ` +
          `${(totalBytes / 2 ** 20).toFixed(0)} MB, median ${(sizes[n >> 1]! / 1024).toFixed(1)} KB; batch ${BATCH}`,
      },
    ];
  } finally {
    await couch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, run);
