// Soledad encrypted write rate: 10,000 documents of 15 KB each (the size of a
// typical message structure/entry batch), written with bulkPut and with
// one-by-one put(). Peer: plain PouchDB bulkDocs of the same documents,
// unencrypted, on the same disk in the same run.
// Usage: npx tsx bench/soledad-put.ts [--quick]   (--quick: 1,000 documents)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import PouchDB from 'pouchdb';
import { Soledad } from '../src/soledad/index.js';
import { runWhenMain, type BenchResult } from './result.js';

export const DOC_BYTES = 15 * 1024;
/** Bench KDF: unlocking is not what is measured here. */
export const BENCH_KDF = { N: 2 ** 12, r: 8, p: 1 };

/** n documents of ~15 KB of incompressible text, deterministic. */
export function makeDocs(n: number): Array<{ type: string; id: string; content: { i: number; text: string } }> {
  const docs = [];
  for (let i = 0; i < n; i++) {
    const text = crypto.createHash('sha512').update(`doc-${i}`).digest('base64').repeat(Math.ceil(DOC_BYTES / 88)).slice(0, DOC_BYTES - 40);
    docs.push({ type: 'structure', id: `msg-${i}`, content: { i, text } });
  }
  return docs;
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const n = opts.quick ? 1000 : 10_000;
  const single = opts.quick ? 300 : 1000;
  const docs = makeDocs(n);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-bench-'));
  try {
    // Peer: plain PouchDB, same docs, same batches.
    const plain = new PouchDB(path.join(dir, 'plain'), { adapter: 'leveldb', auto_compaction: true } as PouchDB.Configuration.DatabaseConfiguration);
    let t = performance.now();
    for (let i = 0; i < n; i += 200) {
      await plain.bulkDocs(docs.slice(i, i + 200).map((d) => ({ _id: `${d.type}:${d.id}`, ...d.content })));
    }
    const plainRate = n / ((performance.now() - t) / 1000);
    await plain.close();

    const sol = await Soledad.create({ dataDir: path.join(dir, 'soledad'), passphrase: 'bench', kdf: BENCH_KDF });
    t = performance.now();
    for (let i = 0; i < n; i += 200) await sol.bulkPut(docs.slice(i, i + 200));
    const bulkRate = n / ((performance.now() - t) / 1000);

    t = performance.now();
    for (let i = 0; i < single; i++) await sol.put('entry', `e${i}`, docs[i]!.content);
    const putRate = single / ((performance.now() - t) / 1000);
    await sol.close();

    return [
      {
        name: `soledad bulkPut, ${n} docs of 15 KB (encrypted)`,
        value: bulkRate,
        unit: 'docs/s',
        peer: { name: 'PouchDB bulkDocs, unencrypted', value: plainRate },
      },
      { name: `soledad put() one by one, ${single} docs of 15 KB`, value: putRate, unit: 'docs/s', note: 'new docs: one write each (revs of known docs are remembered)' },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, run);
