// New-device restore: 10,000 documents of 15 KB on the provider, a new device
// with URL + passphrase replicates them and decrypts every one. Peer: plain
// PouchDB replication of the same documents, unencrypted, from the same
// embedded server in the same run, then reading every one. Goals: ratio <= 2x,
// time < 60 s on the 2-core machine.
// Usage: npx tsx bench/soledad-restore.ts [--quick]   (--quick: 1,000 documents)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import PouchDB from 'pouchdb';
import { Soledad } from '../src/soledad/index.js';
import { startEmbeddedCouch } from '../src/provider/couchdb/embedded.js';
import { BENCH_KDF, makeDocs } from './soledad-put.js';
import { printResults, type BenchResult } from './result.js';

/** Replication batch size, the same for both sides: Soledad's default (SyncController). */
const BATCH = 100;

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const n = opts.quick ? 1000 : 10_000;
  const docs = makeDocs(n);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-bench-'));
  const couch = await startEmbeddedCouch({ dataDir: path.join(dir, 'server') });
  try {
    for (const db of ['plain', 'alice']) await fetch(couch.url + db, { method: 'PUT' });

    // Seed the server: plain docs directly, encrypted ones through a first device.
    const plainRemote = new PouchDB(couch.url + 'plain');
    for (let i = 0; i < n; i += 500) {
      await plainRemote.bulkDocs(docs.slice(i, i + 500).map((d) => ({ _id: `${d.type}:${d.id}`, ...d.content })));
    }
    const first = await Soledad.create({ dataDir: path.join(dir, 'first'), passphrase: 'bench', kdf: BENCH_KDF, remote: { url: couch.url + 'alice' }, liveSync: false });
    for (let i = 0; i < n; i += 500) await first.bulkPut(docs.slice(i, i + 500));
    await first.syncOnce();
    await first.close();

    // Peer: replicate + read every document.
    let t = performance.now();
    const plainLocal = new PouchDB(path.join(dir, 'plain-local'), { adapter: 'leveldb' } as PouchDB.Configuration.DatabaseConfiguration);
    await plainLocal.replicate.from(plainRemote, { batch_size: BATCH, batches_limit: 2 });
    let plainCount = 0;
    for (let skip = 0; ; skip += 500) {
      const page = await plainLocal.allDocs({ include_docs: true, skip, limit: 500 });
      plainCount += page.rows.filter((r) => (r.doc as unknown as { text?: string })?.text?.length).length;
      if (page.rows.length < 500) break;
    }
    const plainSeconds = (performance.now() - t) / 1000;
    await plainLocal.close();
    await plainRemote.close();
    if (plainCount !== n) throw new Error(`peer read ${plainCount} of ${n}`);

    // Soledad: restore (fetch wrapped secret, replicate) + decrypt every document.
    t = performance.now();
    const second = await Soledad.restore({ dataDir: path.join(dir, 'second'), passphrase: 'bench', remote: { url: couch.url + 'alice' }, liveSync: false });
    const replicated = (performance.now() - t) / 1000;
    // Decrypt every document once, in one pass over the changes feed (as the
    // mail layer does when it builds its local state on a new device).
    let count = 0;
    for await (const c of second.changes<{ text: string }>()) if (c.type === 'structure' && c.content?.text.length) count++;
    const seconds = (performance.now() - t) / 1000;
    await second.close();
    if (count !== n) throw new Error(`restored ${count} of ${n}`);

    return [
      {
        name: `new-device restore, ${n} docs of 15 KB (replicate + decrypt)`,
        value: seconds,
        unit: 's',
        peer: { name: 'PouchDB replicate + read, unencrypted', value: plainSeconds },
        goal: 'ratio <= 2x, < 60 s',
        note: `replication ${replicated.toFixed(1)} s, decrypt ${(seconds - replicated).toFixed(1)} s; batch ${BATCH}`,
      },
    ];
  } finally {
    await couch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run({ quick: process.argv.includes('--quick') }).then(printResults, (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
