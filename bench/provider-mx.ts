// Provider MX throughput: SMTP accept → encrypted incoming document stored
// (the 250 reply is sent only once the document is durable in CouchDB), for
// messages with a realistic size mix (log-normal, median 15 KB, mean ~110 KB).
// Peer: raw openpgp encryption of the same messages in the same process, no
// SMTP and no storage — the floor the MX pipeline is built on. The sender
// runs in its own process; this one is the provider (with embedded CouchDB).
// Usage: npx tsx bench/provider-mx.ts [--quick]   (1,000 messages; --quick 100)
// SEALMAIL_BENCH_MX_PROFILE=file.cpuprofile: a CPU profile of this (the
// provider's) process over the embedded run's SMTP part only.
// This process stands for a standalone provider, so it runs with that
// process's GC setting (src/provider/gc-tuning.ts) while it measures;
// SEALMAIL_BENCH_MX_GC_DEFAULT=1 measures with V8's default instead.
// SEALMAIL_BENCH_MX_WORKERS=N: encryption on N worker threads (default 0,
// on the event loop). The notes give the CPU of the provider's main thread
// (its event loop) besides the whole process's; SEALMAIL_BENCH_MX_THREADS=1
// prints every thread's CPU.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Session } from 'node:inspector/promises';
import * as openpgp from 'openpgp';
import { runWhenMain, type BenchResult } from './result.js';
import { message, sizeMix } from './provider-mx-mix.js';

const CONCURRENCY = 4;
/** The provider's encryption worker threads (ProviderOptions.encryptionWorkers); default 0 as the provider's. */
const WORKERS = Number(process.env.SEALMAIL_BENCH_MX_WORKERS ?? 0);

interface Measured {
  msgPerSec: number;
  rawMsgPerSec: number;
  /** CPU time (all threads) of the provider process per message, and of the raw encryption: steadier than rates on a shared machine. */
  cpuMsPerMsg: number;
  rawCpuMsPerMsg: number;
  senderCpuMsPerMsg: number;
  mbPerSec: number;
  rssGrowthMb: number;
  /** CPU time of the provider's main thread (its event loop) per message; null where /proc is not available. */
  loopCpuMsPerMsg: number | null;
}

/** CPU ms of each thread of this process (Linux /proc), by thread id. */
function threadCpuMs(): Map<string, number> {
  const out = new Map<string, number>();
  const tick = 10; // USER_HZ is 100 on Linux
  try {
    for (const tid of fs.readdirSync('/proc/self/task')) {
      const fields = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out.set(tid, (Number(fields[11]) + Number(fields[12])) * tick);
    }
  } catch {
    // not Linux
  }
  return out;
}

/** One run: a provider (embedded CouchDB, or the one at couchUrl), a key, then n messages from the sender process. */
async function measure(n: number, dataDir: string, couchUrl?: string): Promise<Measured> {
  const { startProvider } = await import('../src/provider/index.js');
  const { tuneGcForMessageBuffers } = await import('../src/provider/gc-tuning.js');
  const sizes = sizeMix(n);
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const provider = await startProvider({ dataDir, domains: ['example.org'], scrypt: { N: 1024 }, encryptionWorkers: WORKERS, ...(couchUrl ? { couchUrl } : {}) });
  const restoreGc = process.env.SEALMAIL_BENCH_MX_GC_DEFAULT ? () => undefined : tuneGcForMessageBuffers();
  try {
    const password = 'benchmark password';
    const post = (p: string, body: unknown) =>
      fetch(new URL(p, provider.httpUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await post('/api/accounts', { address: 'alice@example.org', password });
    const { token, couchUrl: userDb } = (await (await post('/api/sessions', { address: 'alice@example.org', password })).json()) as { token: string; couchUrl: string };
    const { publicKey } = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'alice@example.org' }], format: 'armored' });
    const put = await fetch(new URL('/keys/alice@example.org', provider.httpUrl), { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: publicKey });
    if (!put.ok) throw new Error(`key upload failed: ${put.status}`);
    const key = await openpgp.readKey({ armoredKey: publicKey });

    // Peer: raw openpgp encryption of the same messages, one after another
    // (only the encryption is timed, not building the message).
    let rawSeconds = 0;
    const rawCpu0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const bytes = message(i, sizes[i]!);
      const t0 = performance.now();
      await openpgp.encrypt({ message: await openpgp.createMessage({ binary: bytes }), encryptionKeys: key, format: 'binary' });
      rawSeconds += (performance.now() - t0) / 1000;
    }
    const rawCpu = process.cpuUsage(rawCpu0);

    // MX: a sender process with CONCURRENCY SMTP connections (this process is the provider only).
    const profile = couchUrl ? undefined : process.env.SEALMAIL_BENCH_MX_PROFILE;
    const inspector = profile ? new Session() : null;
    if (inspector) {
      inspector.connect();
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.start');
    }
    const rssBefore = process.memoryUsage.rss();
    const cpu0 = process.cpuUsage();
    const threads0 = threadCpuMs();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 25);
    const sender = fork(fileURLToPath(new URL('./provider-mx-sender.ts', import.meta.url)), [String(provider.mxPort), String(n), String(CONCURRENCY)], {
      execArgv: ['--import', 'tsx'],
    });
    const { seconds: mxSeconds, cpuSeconds: senderCpuSeconds } = await new Promise<{ seconds: number; cpuSeconds: number }>((resolve, reject) => {
      sender.once('message', (m: { seconds: number; cpuSeconds: number }) => resolve(m));
      sender.once('exit', (code) => reject(new Error(`sender exited with ${code}`)));
    });
    const cpu = process.cpuUsage(cpu0);
    const threads1 = threadCpuMs();
    clearInterval(sampler);
    const main = String(process.pid);
    if (process.env.SEALMAIL_BENCH_MX_THREADS) {
      for (const [tid, ms] of threads1) if (ms - (threads0.get(tid) ?? 0) > 50) console.error(`thread ${tid}${tid === main ? ' (main)' : ''}: ${(ms - (threads0.get(tid) ?? 0)).toFixed(0)} ms`);
    }
    if (inspector) {
      const { profile: taken } = await inspector.post('Profiler.stop');
      fs.writeFileSync(profile!, JSON.stringify(taken));
      inspector.disconnect();
    }

    const info = (await (await fetch(userDb, { headers: { authorization: `Bearer ${token}` } })).json()) as { doc_count: number };
    if (info.doc_count !== n) throw new Error(`expected ${n} incoming documents, found ${info.doc_count}`);
    return {
      msgPerSec: n / mxSeconds,
      rawMsgPerSec: n / rawSeconds,
      cpuMsPerMsg: (cpu.user + cpu.system) / 1000 / n,
      rawCpuMsPerMsg: (rawCpu.user + rawCpu.system) / 1000 / n,
      senderCpuMsPerMsg: (senderCpuSeconds * 1000) / n,
      mbPerSec: totalBytes / 1048576 / mxSeconds,
      rssGrowthMb: (rssPeak - rssBefore) / 1048576,
      loopCpuMsPerMsg: threads1.has(main) ? (threads1.get(main)! - threads0.get(main)!) / n : null,
    };
  } finally {
    await provider.close();
    restoreGc();
  }
}

/** Starts bench/provider-mx-couch.ts in its own process; resolves with its URL and a stopper. */
async function separateCouch(dataDir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const child = fork(fileURLToPath(new URL('./provider-mx-couch.ts', import.meta.url)), [dataDir], { execArgv: ['--import', 'tsx'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve(m.url));
    child.once('exit', (code) => reject(new Error(`couch process exited with ${code}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}

function loopNote(m: Measured): string {
  return m.loopCpuMsPerMsg === null ? '' : `, of it ${m.loopCpuMsPerMsg.toFixed(1)} on the event loop`;
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  process.env.SEALMAIL_LOG_LEVEL ??= 'warn';
  const n = opts.quick ? 100 : 1000;
  const sizes = sizeMix(n);
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const sorted = [...sizes].sort((a, b) => a - b);
  const mixNote = `${n} msgs, median ${(sorted[n >> 1]! / 1024).toFixed(0)} KB, mean ${(totalBytes / n / 1024).toFixed(0)} KB, max ${(sorted[n - 1]! / 1048576).toFixed(1)} MB`;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-bench-'));
  try {
    const embedded = await measure(n, path.join(dir, 'embedded'));
    const couch = await separateCouch(path.join(dir, 'couch'));
    let split: Measured;
    try {
      split = await measure(n, path.join(dir, 'split'), couch.url);
    } finally {
      await couch.stop();
    }
    return [
      {
        name: 'provider MX accept → stored',
        value: embedded.msgPerSec,
        unit: 'msg/s',
        peer: { name: 'raw openpgp encrypt, same msgs', value: embedded.rawMsgPerSec },
        goal: '>= 300 msg/s',
        note: `${mixNote}; ${embedded.mbPerSec.toFixed(1)} MB/s; ${CONCURRENCY} SMTP connections from a sender process; ${WORKERS ? `encryption on ${WORKERS} worker thread(s); ` : ''}embedded CouchDB in the provider process; provider CPU ${embedded.cpuMsPerMsg.toFixed(1)} ms/msg${loopNote(embedded)} (raw encrypt ${embedded.rawCpuMsPerMsg.toFixed(1)}, sender ${embedded.senderCpuMsPerMsg.toFixed(1)})`,
      },
      {
        name: 'provider MX accept → stored, CouchDB in its own process',
        value: split.msgPerSec,
        unit: 'msg/s',
        peer: { name: 'raw openpgp encrypt, same msgs', value: split.rawMsgPerSec },
        goal: '>= 300 msg/s',
        note: `same mix; ${split.mbPerSec.toFixed(1)} MB/s; the scale-out shape (couchUrl); MX process CPU ${split.cpuMsPerMsg.toFixed(1)} ms/msg${loopNote(split)}`,
      },
      {
        name: 'provider MX peak RSS growth during the run',
        value: embedded.rssGrowthMb,
        unit: 'MB',
        note: `provider process with embedded CouchDB (${split.rssGrowthMb.toFixed(0)} MB with CouchDB in its own process); largest message ${(sorted[n - 1]! / 1048576).toFixed(1)} MB`,
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, run);
