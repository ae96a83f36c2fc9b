// Sign+encrypt of a 100 KB message to one recipient (and the sender), as the
// SMTP gateway does for every outgoing copy: sealmail's PGP/MIME build versus
// the `gpg` command doing the same work in the same run. Spawning gpg per
// message is the fair peer (that is how a user or a mail client runs it); we
// also report gpg without process start: one run over 100 messages' worth of
// data, divided by 100 (this also amortises its public-key operations, so it
// flatters gpg slightly).
import { spawnSync } from 'node:child_process';
import { MemoryDocumentStore } from '../src/soledad/memory-docstore.js';
import { KeyManager } from '../src/keymanager/index.js';
import { createGpg } from '../test/support/gpg.js';
import { runWhenMain, type BenchResult } from './result.js';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.net';

function message(size: number): Buffer {
  const line = 'The quick brown fox jumps over the lazy dog, again and again and again.\r\n';
  const body = line.repeat(Math.ceil(size / line.length)).slice(0, size);
  return Buffer.from(
    `From: ${ALICE}\r\nTo: ${BOB}\r\nSubject: bench\r\nMessage-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\n` +
      `Content-Type: text/plain; charset=us-ascii\r\n\r\n${body}`,
  );
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const n = opts.quick ? 10 : 40;
  const gpg = await createGpg();
  try {
    const km = new KeyManager({ store: new MemoryDocumentStore(), address: ALICE, wkd: false });
    await km.ensureOwnKey();
    await gpg.generateKey(BOB);
    await km.importKeys(await gpg.exportPublic(BOB));
    await gpg.importKey(await km.exportPrivateKey());
    const bob = await km.lookup(BOB);
    if (!bob.found) throw new Error('no key for bob');
    const raw = message(100 * 1024);

    const ours: number[] = [];
    for (let i = 0; i < n + 3; i++) {
      const t = process.hrtime.bigint();
      await km.encrypt(raw, [bob.key.armored]);
      if (i >= 3) ours.push(Number(process.hrtime.bigint() - t) / 1e6);
    }

    const gpgArgs = ['--homedir', gpg.home, '--batch', '--no-tty', '--trust-model', 'always', '--pinentry-mode', 'loopback', '--passphrase', '',
      '--armor', '--sign', '--encrypt', '-u', ALICE, '-r', BOB, '-r', ALICE];
    const gpgRun = (input: Buffer): number => {
      const t = process.hrtime.bigint();
      const r = spawnSync('gpg', gpgArgs, { input, maxBuffer: 64 * 1024 * 1024 });
      if (r.status !== 0) throw new Error(`gpg failed: ${r.stderr.toString()}`);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    gpgRun(raw); // starts the agent
    const theirs: number[] = [];
    for (let i = 0; i < n; i++) theirs.push(gpgRun(raw));
    const batch = 100;
    const gpgBatchMs = gpgRun(Buffer.concat(Array.from({ length: batch }, () => raw))) / batch;
    const ourMs = median(ours);
    const gpgMs = median(theirs);
    return [
      {
        name: 'sign+encrypt 100 KB, 1 recipient (PGP/MIME)',
        value: ourMs,
        unit: 'ms/msg',
        peer: { name: 'gpg spawned per message', value: gpgMs },
        goal: '< 30 ms and ≤ gpg',
        note: `median of ${n}; sealmail figure includes building the PGP/MIME message`,
      },
      {
        name: 'sign+encrypt 100 KB, gpg without process start',
        value: ourMs,
        unit: 'ms/msg',
        peer: { name: `gpg, one run over ${batch} × 100 KB`, value: gpgBatchMs },
        note: 'gpg per 100 KB when its process start and key operations are amortised',
      },
    ];
  } finally {
    await gpg.close();
  }
}

runWhenMain(import.meta.url, run);
