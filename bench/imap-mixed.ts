// Five concurrent IMAP clients doing what mail clients do, for 10 s against
// Dovecot and then 10 s against sealmail (same driver, same seeds, same
// 1,000-message INBOX): SELECT, header listings, a body, flag changes,
// APPEND, EXPUNGE of what the client appended, SEARCH. Figure: commands
// completed per second over all clients; goal >= 0.5x Dovecot.
// sealmail runs over the real store (Soledad: encrypted PouchDB on LevelDB).
// Usage: npx tsx bench/imap-mixed.ts [--quick]   (--quick: 200 messages, 3 s per server)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Soledad } from '../src/soledad/index.js';
import { openMailStore } from '../src/mail/store/index.js';
import { startImapServer } from '../src/imap/server.js';
import { startDovecot } from '../test/support/dovecot.js';
import { runWhenMain, type BenchResult } from './result.js';
import { Driver, fillMaildir } from './imap-driver.js';
import { benchMessage } from './imap-fetch.js';

const KDF = { N: 2 ** 10, r: 8, p: 1 };
const CLIENTS = 5;

type OpKind = 'select' | 'list' | 'body' | 'store' | 'append' | 'expunge' | 'search';

/** Cumulative weights of the mix (per hundred picks). */
const MIX: Array<[OpKind, number]> = [
  ['select', 10],
  ['list', 25],
  ['body', 15],
  ['store', 20],
  ['append', 10],
  ['expunge', 10],
  ['search', 10],
];

interface ClientStats {
  ops: number;
  byKind: Record<OpKind, number>;
  latencies: number[];
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
}

function pick(r: number): OpKind {
  let acc = 0;
  const total = MIX.reduce((n, [, w]) => n + w, 0);
  for (const [kind, w] of MIX) {
    acc += w / total;
    if (r < acc) return kind;
  }
  return MIX[MIX.length - 1]![0];
}

/** One client's loop until the deadline; every command is one op. */
async function client(driver: Driver, id: number, count: number, deadline: number): Promise<ClientStats> {
  const rand = rng(1000 + id);
  const uid = () => 1 + Math.floor(rand() * count);
  const mine: number[] = [];
  const stats: ClientStats = { ops: 0, byKind: { select: 0, list: 0, body: 0, store: 0, append: 0, expunge: 0, search: 0 }, latencies: [] };
  const run = async (kind: OpKind, text: string, literal?: Buffer) => {
    const r = await driver.command(text, literal);
    stats.ops++;
    stats.byKind[kind]++;
    stats.latencies.push(r.ms);
    return r;
  };
  let appended = 0;
  while (performance.now() < deadline) {
    let kind = pick(rand());
    if (kind === 'expunge' && mine.length === 0) kind = 'append';
    switch (kind) {
      case 'select':
        await run(kind, 'SELECT INBOX');
        break;
      case 'list': {
        const from = uid();
        await run(kind, `UID FETCH ${from}:${from + 49} (UID FLAGS RFC822.SIZE ENVELOPE)`);
        break;
      }
      case 'body':
        await run(kind, `UID FETCH ${uid()} (BODY.PEEK[])`);
        break;
      case 'store':
        await run(kind, `UID STORE ${uid()} ${rand() < 0.5 ? '+' : '-'}FLAGS (${rand() < 0.5 ? '\\Seen' : '\\Flagged'})`);
        break;
      case 'append': {
        const r = await run(kind, 'APPEND INBOX (\\Seen)', benchMessage(100_000 + id * 10_000 + appended++));
        const m = /\[APPENDUID \d+ (\d+)\]/.exec(r.tail);
        if (m) mine.push(Number(m[1]));
        break;
      }
      case 'expunge': {
        const u = mine.shift()!;
        await run(kind, `UID STORE ${u} +FLAGS.SILENT (\\Deleted)`);
        await run(kind, `UID EXPUNGE ${u}`);
        break;
      }
      case 'search':
        await run(kind, rand() < 0.5 ? `UID SEARCH FROM sender${Math.floor(rand() * 97)}` : 'UID SEARCH UNSEEN');
        break;
    }
  }
  return stats;
}

interface MixResult {
  opsPerSec: number;
  p50: number;
  p99: number;
  byKind: Record<OpKind, number>;
}

async function drive(port: number, login: string, count: number, seconds: number): Promise<MixResult> {
  const drivers = await Promise.all(Array.from({ length: CLIENTS }, () => Driver.open(port)));
  try {
    for (const d of drivers) {
      await d.command(login);
      await d.command('SELECT INBOX');
    }
    const start = performance.now();
    const stats = await Promise.all(drivers.map((d, i) => client(d, i, count, start + seconds * 1000)));
    const elapsed = (performance.now() - start) / 1000;
    const lat = stats.flatMap((s) => s.latencies).sort((a, b) => a - b);
    const byKind = { select: 0, list: 0, body: 0, store: 0, append: 0, expunge: 0, search: 0 };
    for (const s of stats) for (const k of Object.keys(byKind) as OpKind[]) byKind[k] += s.byKind[k];
    return {
      opsPerSec: stats.reduce((n, s) => n + s.ops, 0) / elapsed,
      p50: lat[Math.floor(lat.length * 0.5)] ?? 0,
      p99: lat[Math.floor(lat.length * 0.99)] ?? 0,
      byKind,
    };
  } finally {
    for (const d of drivers) d.close();
  }
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const count = opts.quick ? 200 : 1000;
  const seconds = opts.quick ? 3 : 10;
  const messages = Array.from({ length: count }, (_, i) => benchMessage(i));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-bench-mixed-'));
  const dovecot = await startDovecot();
  const sol = await Soledad.create({ dataDir: dir, passphrase: 'bench', kdf: KDF });
  const store = await openMailStore({ docs: sol, local: sol.local });
  const server = await startImapServer({ authenticate: async () => store, failedLoginDelayMs: 0 });
  try {
    for (const m of messages) await store.append('INBOX', m);
    const filler = await Driver.open(dovecot.port);
    await filler.command(`LOGIN ${dovecot.user} ${dovecot.password}`);
    await fillMaildir(filler, path.join(dovecot.dir, 'mail', dovecot.user), messages);
    filler.close();

    const theirs = await drive(dovecot.port, `LOGIN ${dovecot.user} ${dovecot.password}`, count, seconds);
    const ours = await drive(server.port, 'LOGIN alice pw', count, seconds);
    const mix = (r: MixResult) => Object.entries(r.byKind).map(([k, n]) => `${k} ${n}`).join(', ');
    return [
      {
        name: `${CLIENTS} concurrent clients, mixed SELECT/FETCH/STORE/APPEND/EXPUNGE/SEARCH, ${seconds} s, ${count}-message INBOX`,
        value: ours.opsPerSec,
        unit: 'ops/s',
        peer: { name: 'Dovecot 2.3', value: theirs.opsPerSec },
        goal: '>= 0.5x Dovecot',
        note:
          `latency p50/p99 ${ours.p50.toFixed(1)}/${ours.p99.toFixed(0)} ms vs ${theirs.p50.toFixed(1)}/${theirs.p99.toFixed(0)} ms; ` +
          `sealmail did ${mix(ours)}; Dovecot ${mix(theirs)}`,
      },
    ];
  } finally {
    await server.close();
    await store.close();
    await sol.close();
    await dovecot.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, run);
