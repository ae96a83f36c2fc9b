// The in-memory mail index at scale: time from process start to "index ready"
// and the process RSS then, for a store of 100k messages over real Soledad.
// Two cold starts, each in a fresh child process: the first build (no
// snapshot: every document of the store is decrypted and folded in) and a
// restart (index snapshot from the local store + replay of changes since).
// The store is filled by bulk-writing entry documents (what the index reads);
// blobs and structure documents are not written, so the first build here
// replays fewer documents than a real store of the same size would.
// Usage: npx tsx bench/mail-index.ts [--quick]   (100,000 messages; --quick 10,000)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Soledad } from '../src/soledad/index.js';
import { openMailStore } from '../src/mail/store/index.js';
import { applyDaemonHeapPolicy } from '../src/daemon/heap-policy.js';
import type { EntryDoc } from '../src/mail/store/index.js';
import { runWhenMain, type BenchResult } from './result.js';

const KDF = { N: 2 ** 10, r: 8, p: 1 };
const PASSPHRASE = 'bench';
const MAILBOXES = ['default-inbox', 'default-inbox', 'default-inbox', 'default-archive', 'default-archive', 'default-sent'];
const KEYWORDS = ['$Forwarded', '$Label1', '$Junk', 'NonJunk'];

interface ChildReport {
  readyMs: number;
  /** RSS with Soledad open, before the mail store (the process without the index). */
  baseMb: number;
  /** Live heap (after a full GC) taken by the open mail store: the index. */
  indexHeapMb: number;
  rssMb: number;
  heapMb: number;
  /** Highest RSS of the process until the store was closed (Linux VmHWM; else RSS at ready). */
  peakMb: number;
  messages: number;
}

/** The process's peak RSS so far in MB (Linux: VmHWM), or null where /proc is not there. */
function peakRssMb(): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Entry documents i in [start, end): 3 mailboxes, ~70% seen, some flagged and keywords, distinct hashes. */
export function benchEntries(start: number, end: number): Array<{ type: 'entry'; id: string; content: EntryDoc }> {
  const stamp = (n: number) => `${String(1_764_000_000_000 + n).padStart(13, '0')}.000000.benchnode`;
  const out: Array<{ type: 'entry'; id: string; content: EntryDoc }> = [];
  for (let i = start; i < end; i++) {
    const flags: EntryDoc['flags'] = {};
    if (i % 10 < 7) flags['\\Seen'] = [1, stamp(i)];
    if (i % 50 === 0) flags['\\Flagged'] = [1, stamp(i)];
    if (i % 20 === 0) flags[KEYWORDS[i % KEYWORDS.length]!] = [1, stamp(i)];
    const hash = Buffer.alloc(32, 0).fill(i.toString(16)).toString('hex');
    const doc: EntryDoc = {
      v: 1,
      mailbox: MAILBOXES[i % MAILBOXES.length]!,
      hash,
      size: 2000 + ((i * 7919) % 60000),
      internalDate: 1_700_000_000_000 + i * 1000,
      flags,
      expunged: null,
    };
    out.push({ type: 'entry', id: `bench-${i}`, content: doc });
  }
  return out;
}

/** How many of `count` bench entries land in INBOX. */
export function inboxShare(count: number): number {
  let n = 0;
  for (let i = 0; i < MAILBOXES.length; i++) if (MAILBOXES[i] === 'default-inbox') n += Math.floor((count - i - 1) / MAILBOXES.length) + 1;
  return n;
}

export async function fill(dataDir: string, count: number): Promise<void> {
  const sol = await Soledad.create({ dataDir, passphrase: PASSPHRASE, kdf: KDF });
  for (let start = 0; start < count; start += 1000) await sol.bulkPut(benchEntries(start, Math.min(count, start + 1000)));
  await sol.close();
}

/** Child mode: open the store, report time since process start and RSS once the index is ready. */
async function child(dataDir: string): Promise<void> {
  applyDaemonHeapPolicy(); // as the daemon does
  const sol = await Soledad.open({ dataDir, passphrase: PASSPHRASE, liveSync: false });
  const baseMb = process.memoryUsage().rss / 2 ** 20;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const mail = await openMailStore({ docs: sol, local: sol.local, releaseMappedFiles: (tries) => sol.releaseMappedFiles(tries) }); // as the daemon does
  const readyMs = performance.now();
  const rss = process.memoryUsage();
  gc?.();
  const indexHeapMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  let messages = 0;
  for (const m of await mail.listMailboxes()) messages += (await mail.status(m.name)).messages;
  await mail.close();
  await sol.close();
  // After close: the first build's snapshot is written then, and counts.
  const peakMb = peakRssMb() ?? rss.rss / 2 ** 20;
  const report: ChildReport = { readyMs, baseMb, indexHeapMb, rssMb: rss.rss / 2 ** 20, heapMb: rss.heapUsed / 2 ** 20, peakMb, messages };
  process.stdout.write(JSON.stringify(report) + '\n');
}

function runChild(dataDir: string): Promise<ChildReport> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--index-child', dataDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, SEALMAIL_LOG_LEVEL: 'warn' },
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`child exited ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as ChildReport);
    });
  });
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const count = opts.quick ? 10_000 : 100_000;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-bench-'));
  try {
    await fill(dataDir, count);
    const first = await runChild(dataDir);
    const restart = await runChild(dataDir);
    for (const r of [first, restart]) if (r.messages !== count) throw new Error(`index holds ${r.messages} of ${count}`);
    const n = `${count} messages, 3 mailboxes`;
    return [
      { name: `index ready after restart (snapshot), ${count / 1000}k msgs`, value: restart.readyMs / 1000, unit: 's', goal: '< 3 s', note: `${n}; from process start, tsx load included` },
      { name: `daemon RSS with index, ${count / 1000}k msgs`, value: restart.rssMb, unit: 'MB', goal: '< 300 MB', note: `heap ${restart.heapMb.toFixed(0)} MB; ${restart.baseMb.toFixed(0)} MB before the mail store opened` },
      { name: `index heap at ${count / 1000}k msgs`, value: restart.indexHeapMb, unit: 'MB', note: `${((restart.indexHeapMb * 2 ** 20) / count).toFixed(0)} bytes per message (live heap after GC)` },
      { name: `index ready on first build (no snapshot), ${count / 1000}k msgs`, value: first.readyMs / 1000, unit: 's', note: 'every entry decrypted from Soledad' },
      { name: `RSS after first build, ${count / 1000}k msgs`, value: first.rssMb, unit: 'MB', note: `heap ${first.heapMb.toFixed(0)} MB` },
      { name: `peak RSS of the first build, ${count / 1000}k msgs`, value: first.peakMb, unit: 'MB', goal: '< 300 MB', note: 'open, build, snapshot and close (VmHWM)' },
      { name: `peak RSS of a restart, ${count / 1000}k msgs`, value: restart.peakMb, unit: 'MB', goal: '< 300 MB', note: 'VmHWM' },
    ];
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--index-child') {
  await child(process.argv[3]!);
} else {
  runWhenMain(import.meta.url, run);
}
