// Issue 9 figure 7: daemon RSS growth while serving a 25 MB attachment over
// IMAP. The server (Soledad store + IMAP server, as in the daemon) runs in
// its own process so the client's buffers do not count; it samples its own
// RSS every 5 ms while a client fetches the attachment (BODY[2]), the whole
// message (BODY[]) and the decoded attachment (BINARY[2]). The client keeps
// only the tail of what it receives.
// Usage: npx tsx bench/imap-big-attachment.ts [--quick]   (25 MB; --quick 5 MB)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runWhenMain, isMain, type BenchResult } from './result.js';
import { Driver } from './imap-driver.js';

const KDF = { N: 2 ** 10, r: 8, p: 1 };

/** A message with a short text part and a base64 attachment of `size` bytes (random, so nothing compresses). */
function bigMessage(size: number): Buffer {
  const b64 = crypto.randomBytes(size).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    'From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: the big one\r\nMessage-ID: <big@example.org>\r\n' +
      'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n' +
      '--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attachment\r\n' +
      '--b1\r\nContent-Type: application/octet-stream; name="data.bin"\r\nContent-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
      b64 +
      '\r\n--b1--\r\n',
    'latin1',
  );
}

type FromServer = { port: number } | { rss: number } | { peak: number };

/**
 * The message is stored by a process of its own (`store`), so the serving
 * process starts as a daemon does, on a store already written: when the
 * same process appended it first, what the append left in the heap and in
 * malloc's arenas made the baseline swing from 148 to 211 MB between runs,
 * and the "growth" swing the other way (107 against 48 MB) for the same
 * peak (255 MB).
 */
async function storeMessage(dir: string, size: number): Promise<void> {
  const { Soledad } = await import('../src/soledad/index.js');
  const { openMailStore } = await import('../src/mail/store/index.js');
  const sol = await Soledad.create({ dataDir: dir, passphrase: 'bench', kdf: KDF });
  const store = await openMailStore({ docs: sol, local: sol.local });
  await store.append('INBOX', bigMessage(size));
  await store.close();
  await sol.close();
}

/** The server process: opens the store, IMAP on port 0; answers 'baseline' and 'peak' requests. */
async function serve(dir: string): Promise<void> {
  const { Soledad } = await import('../src/soledad/index.js');
  const { openMailStore } = await import('../src/mail/store/index.js');
  const { startImapServer } = await import('../src/imap/server.js');
  const sol = await Soledad.open({ dataDir: dir, passphrase: 'bench' });
  const store = await openMailStore({ docs: sol, local: sol.local });
  const server = await startImapServer({ authenticate: async () => store, failedLoginDelayMs: 0 });
  let peak = 0;
  let sampler: NodeJS.Timeout | null = null;
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', async (m: string) => {
    if (m === 'baseline') {
      for (let i = 0; i < 3; i++) gc?.();
      await new Promise((r) => setTimeout(r, 200));
      const rss = process.memoryUsage.rss();
      peak = rss;
      sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
      process.send!({ rss } satisfies FromServer);
    } else if (m === 'peak') {
      if (sampler) clearInterval(sampler);
      process.send!({ peak: Math.max(peak, process.memoryUsage.rss()) } satisfies FromServer);
    } else if (m === 'stop') {
      await server.close();
      await store.close();
      await sol.close();
      process.exit(0);
    }
  });
  process.send!({ port: server.port } satisfies FromServer);
}

function ask(child: ChildProcess, m: string): Promise<FromServer> {
  return new Promise((resolve) => {
    child.once('message', (r: FromServer) => resolve(r));
    child.send(m);
  });
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const size = (opts.quick ? 5 : 25) * 1024 * 1024;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-bench-big-'));
  const child = (mode: string): ChildProcess => fork(fileURLToPath(import.meta.url), [mode, dir, String(size)], { execArgv: ['--import', 'tsx', '--expose-gc'] });
  let server: ChildProcess | null = null;
  try {
    const stored = child('store');
    const code = await new Promise((r) => stored.once('exit', r));
    if (code !== 0) throw new Error(`storing the message failed (exit ${code})`);
    server = child('serve');
    const serving = server;
    const { port } = (await new Promise<FromServer>((resolve, reject) => {
      serving.once('message', resolve);
      serving.once('exit', (exit) => reject(new Error(`server process exited with ${exit}`)));
    })) as { port: number };
    const client = await Driver.open(port);
    await client.command('LOGIN alice pw');
    await client.command('SELECT INBOX');
    const { rss } = (await ask(server, 'baseline')) as { rss: number };
    const t0 = performance.now();
    const part = await client.command('UID FETCH 1 (BODY.PEEK[2])');
    const whole = await client.command('UID FETCH 1 (BODY.PEEK[])');
    const binary = await client.command('UID FETCH 1 (BINARY.PEEK[2])');
    const seconds = (performance.now() - t0) / 1000;
    const { peak } = (await ask(server, 'peak')) as { peak: number };
    client.close();
    const mb = (n: number) => n / 2 ** 20;
    const sent = part.bytes + whole.bytes + binary.bytes;
    return [
      {
        name: `daemon RSS growth while serving a ${mb(size).toFixed(0)} MB attachment over IMAP`,
        value: mb(peak - rss),
        unit: 'MB',
        goal: '< 100 MB',
        note: `BODY[2], BODY[] and BINARY[2] one after another (${mb(sent).toFixed(0)} MB sent in ${seconds.toFixed(1)} s); server in its own process on the stored message, RSS sampled every 5 ms from ${mb(rss).toFixed(0)} MB after GC`,
      },
    ];
  } finally {
    if (server && server.exitCode === null) {
      const stopping = new Promise((r) => server!.once('exit', r));
      server.send('stop');
      await stopping;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url) && process.argv[2] === 'store') {
  storeMessage(process.argv[3]!, Number(process.argv[4])).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
} else if (isMain(import.meta.url) && process.argv[2] === 'serve') {
  void serve(process.argv[3]!);
} else {
  runWhenMain(import.meta.url, run);
}
