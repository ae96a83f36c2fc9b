// Self-send latency through the whole stack (issue 9 figure 4): the real
// daemon (startDaemon with the quickstart's embedded provider, in a temp
// config/data dir) with two accounts; the demo account sends to the user
// through the local SMTP gateway (nodemailer), and an imapflow session of the
// user, IDLE on INBOX, waits for the EXISTS. The path: gateway (sign +
// encrypt) → outgoing queue → provider submission → local delivery
// (encrypt to the key, incoming doc) → sync → fetch loop → mail store → IDLE.
// N messages one after another; p50/p99 from the start of the SMTP send, and
// from the gateway's 250 (accepted into the queue).
// Usage: npx tsx bench/self-send-latency.ts [--quick]   (50 messages; --quick 10)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { ImapFlow } from 'imapflow';
import { runWhenMain, type BenchResult } from './result.js';
import { freePorts } from '../test/support/ports.js';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  process.env.SEALMAIL_LOG_LEVEL ??= 'warn';
  const { startDaemon } = await import('../src/daemon/daemon.js');
  const { quickstartConfig } = await import('../src/daemon/quickstart.js');
  const n = opts.quick ? 10 : 50;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-bench-'));
  const paths = { configDir: path.join(dir, 'config'), dataDir: path.join(dir, 'data'), configFile: path.join(dir, 'config', 'config.json') };
  const [httpPort, mxPort, submissionPort] = await freePorts(3);
  const saved = { ...process.env };
  Object.assign(process.env, {
    SEALMAIL_PROVIDER_HTTP_PORT: String(httpPort),
    SEALMAIL_PROVIDER_MX_PORT: String(mxPort),
    SEALMAIL_PROVIDER_SUBMISSION_PORT: String(submissionPort),
    SEALMAIL_USER: 'me',
  });
  let config;
  try {
    config = quickstartConfig(paths);
  } finally {
    for (const k of ['SEALMAIL_PROVIDER_HTTP_PORT', 'SEALMAIL_PROVIDER_MX_PORT', 'SEALMAIL_PROVIDER_SUBMISSION_PORT', 'SEALMAIL_USER']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
  config.imap = { host: '127.0.0.1', port: 0 };
  config.smtp = { host: '127.0.0.1', port: 0 };
  const [user, demo] = config.accounts as [(typeof config.accounts)[0], (typeof config.accounts)[0]];
  const daemon = await startDaemon({
    paths,
    config,
    passphraseFor: async (a) => fs.readFileSync(a.passphraseFile!, 'utf8').trim(),
    create: { [user.address]: 'new', [demo.address]: 'new' },
    kdf: { N: 1024, r: 8, p: 1 },
    loginCost: 1024,
    providerScrypt: { N: 1024, r: 8, p: 1 },
  });
  const imap = new ImapFlow({ host: '127.0.0.1', port: daemon.imap.port, secure: false, auth: { user: user.address, pass: user.localPassword }, logger: false, tls: { rejectUnauthorized: false } });
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: daemon.smtp.port,
    secure: false,
    ignoreTLS: true,
    pool: true,
    maxConnections: 1,
    auth: { user: demo.address, pass: demo.localPassword },
  });
  try {
    await imap.connect();
    await imap.mailboxOpen('INBOX');
    let exists = imap.mailbox ? imap.mailbox.exists : 0;
    const waiters: Array<{ count: number; resolve: () => void }> = [];
    imap.on('exists', (e: { count: number }) => {
      exists = e.count;
      for (const w of waiters.splice(0)) {
        if (exists >= w.count) w.resolve();
        else waiters.push(w);
      }
    });
    const seen = (count: number, timeoutMs: number) =>
      new Promise<void>((resolve, reject) => {
        if (exists >= count) return resolve();
        const timer = setTimeout(() => reject(new Error(`no EXISTS ${count} within ${timeoutMs} ms (at ${exists})`)), timeoutMs);
        waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      });
    // imapflow IDLEs by itself while nothing else is running on the connection.
    const idling = imap.idle();

    const fromSend: number[] = [];
    const fromAccept: number[] = [];
    const body = 'A self-sent benchmark message.\n'.repeat(60);
    // One warm-up message (first key lookups, first sync round trip) not counted.
    for (let i = -1; i < n; i++) {
      const target = exists + 1;
      const t0 = performance.now();
      await transport.sendMail({ from: demo.address, to: user.address, subject: `latency ${i}`, text: body });
      const t1 = performance.now();
      await seen(target, 30_000);
      const t2 = performance.now();
      if (i >= 0) {
        fromSend.push(t2 - t0);
        fromAccept.push(t2 - t1);
      }
    }
    void idling;
    fromSend.sort((a, b) => a - b);
    fromAccept.sort((a, b) => a - b);
    const note = `${n} sequential self-sends (~2 KB text, signed+encrypted) demo → user on one daemon with the embedded provider; from the 250 of the gateway: p50 ${percentile(fromAccept, 50).toFixed(0)} ms, p99 ${percentile(fromAccept, 99).toFixed(0)} ms`;
    return [
      { name: 'self-send latency p50, SMTP send → IDLE EXISTS', value: percentile(fromSend, 50), unit: 'ms', goal: '< 1000 ms', note },
      { name: 'self-send latency p99, SMTP send → IDLE EXISTS', value: percentile(fromSend, 99), unit: 'ms', goal: '< 2000 ms', note: `max ${fromSend[fromSend.length - 1]!.toFixed(0)} ms` },
    ];
  } finally {
    transport.close();
    await imap.logout().catch(() => imap.close());
    await daemon.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, run);
