// Submission throughput through the local SMTP gateway into the persistent
// queue (Soledad's local store, real LevelDB, real encryption): a nodemailer
// client like Thunderbird, AUTH, one recipient per message. The queue is not
// relaying during the run, so the figure is what the gateway can accept. The
// peer is the same client against a bare smtp-server (the protocol's cost alone).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { Soledad } from '../src/soledad/index.js';
import { KeyManager } from '../src/keymanager/index.js';
import { OutgoingQueue, startSmtpGateway } from '../src/smtp/index.js';
import { runWhenMain, type BenchResult } from './result.js';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.net';
const CAROL = 'carol@example.com';

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const n = opts.quick ? 40 : 300;
  const concurrency = 4;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-bench-'));
  const sol = await Soledad.create({ dataDir: dir, passphrase: 'bench', kdf: { N: 2 ** 10, r: 8, p: 1 } });
  try {
    const km = new KeyManager({ store: sol, address: ALICE, wkd: false });
    await km.ensureOwnKey();
    const bob = new KeyManager({ store: sol, address: BOB, wkd: false });
    await bob.ensureOwnKey();
    await km.importKeys(await bob.exportPublicKey());
    const queue = new OutgoingQueue({
      store: sol.local,
      relay: { host: '127.0.0.1', port: 9, user: ALICE, token: 'unused' },
      deliverBounce: async () => undefined,
    });
    const gateway = await startSmtpGateway({ port: 0, queue, accounts: [{ address: ALICE, password: 'pw', keymanager: km, alwaysEncrypt: false }] });
    const client = nodemailer.createTransport({
      host: '127.0.0.1', port: gateway.port, secure: false, ignoreTLS: true, pool: true, maxConnections: concurrency,
      maxMessages: Infinity, auth: { user: ALICE, pass: 'pw' },
    });
    const body = 'Ten kilobytes of ordinary text, line after line of it, as people write.\r\n'.repeat(140);
    const measure = async (label: string, to: string, via = client): Promise<number> => {
      const send = (i: number) =>
        via.sendMail({ envelope: { from: ALICE, to: [to] }, raw: `From: ${ALICE}\r\nTo: ${to}\r\nSubject: ${label} ${i}\r\nMessage-ID: <${label}-${i}@example.org>\r\n\r\n${body}` });
      for (let i = 1; i <= 10; i++) await send(-i); // warm-up: connections, key lookup, JIT
      const t = performance.now();
      let next = 0;
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < n) await send(next++);
      }));
      return n / ((performance.now() - t) / 1000);
    };
    const encrypted = await measure('enc', BOB);
    const signed = await measure('sig', CAROL);
    client.close();
    await gateway.close();
    // Peer: the same client against a bare smtp-server that only reads the data (no AUTH checks, crypto or queue).
    const bare = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, onData: (stream, _s, cb) => { stream.resume(); stream.on('end', () => cb()); } });
    await new Promise<void>((r) => bare.listen(0, '127.0.0.1', () => r()));
    const bareClient = nodemailer.createTransport({ host: '127.0.0.1', port: (bare.server.address() as AddressInfo).port, secure: false, ignoreTLS: true, pool: true, maxConnections: concurrency, maxMessages: Infinity });
    const bareRate = await measure('bare', BOB, bareClient);
    bareClient.close();
    await new Promise<void>((r) => bare.close(() => r()));
    const queued = (await queue.list()).length;
    if (queued !== 2 * (n + 10)) throw new Error(`expected ${2 * (n + 10)} queued items, found ${queued}`);
    return [
      { name: 'submit 10 KB → signed+encrypted → queue', value: encrypted, unit: 'msgs/s', peer: { name: 'bare smtp-server, no crypto/queue', value: bareRate }, note: `${n} msgs, ${concurrency} connections, Soledad local store` },
      { name: 'submit 10 KB → signed only → queue', value: signed, unit: 'msgs/s', peer: { name: 'bare smtp-server, no crypto/queue', value: bareRate }, note: `${n} msgs, ${concurrency} connections, Soledad local store` },
    ];
  } finally {
    await sol.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, run);
