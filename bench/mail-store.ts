// Split + store rate: messages delivered into the MailStore over real Soledad
// (encrypted PouchDB on LevelDB): blob, structure (MIME analysis), entry, UID.
// Delivered one after another, as the fetch loop does. Peer: the same bytes
// written as plain blobs into the same kind of Soledad store (no analysis, no
// documents) — the storage floor the mail model is built on.
// Usage: npx tsx bench/mail-store.ts [--quick]   (10,000 messages; --quick 500)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Soledad } from '../src/soledad/index.js';
import { openMailStore } from '../src/mail/store/index.js';
import { corpusMessage } from './mail-store-corpus.js';
import { runWhenMain, type BenchResult } from './result.js';

// Small scrypt: account creation is not what is measured here.
const KDF = { N: 2 ** 10, r: 8, p: 1 };

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const count = opts.quick ? 500 : 10_000;
  const bigEvery = opts.quick ? 250 : 2500;
  const messages: Buffer[] = [];
  for (let i = 0; i < count; i++) messages.push(corpusMessage(i, bigEvery));
  const bytes = messages.reduce((n, m) => n + m.length, 0);
  const sizes = messages.map((m) => m.length).sort((a, b) => a - b);
  const median = sizes[Math.floor(sizes.length / 2)];
  const dirs: string[] = [];
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-bench-'));
    dirs.push(d);
    return d;
  };
  try {
    const sol = await Soledad.create({ dataDir: tmp(), passphrase: 'bench', kdf: KDF });
    const mail = await openMailStore({ docs: sol, local: sol.local });
    let t = performance.now();
    for (let i = 0; i < count; i++) await mail.deliver('INBOX', messages[i], { deliveryId: `incoming-${i}` });
    const mailSecs = (performance.now() - t) / 1000;
    const stored = (await mail.status('INBOX')).messages;
    if (stored !== count) throw new Error(`stored ${stored} of ${count}`);
    await mail.close();
    await sol.close();

    const peer = await Soledad.create({ dataDir: tmp(), passphrase: 'bench', kdf: KDF });
    t = performance.now();
    for (let i = 0; i < count; i++) await peer.putBlob(`blob-${i}`, messages[i]);
    const peerSecs = (performance.now() - t) / 1000;
    await peer.close();

    const note = `${count} msgs, median ${(median / 1024).toFixed(1)} KB, ${(bytes / 2 ** 20).toFixed(0)} MB total, ${Math.floor(count / bigEvery)} of 3 MB; sequential deliver`;
    return [
      { name: 'mail split+store rate (Soledad)', value: count / mailSecs, unit: 'msgs/s', peer: { name: 'Soledad putBlob only', value: count / peerSecs }, note },
      { name: 'mail split+store throughput (Soledad)', value: bytes / 2 ** 20 / mailSecs, unit: 'MB/s', peer: { name: 'Soledad putBlob only', value: bytes / 2 ** 20 / peerSecs } },
    ];
  } finally {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, run);
