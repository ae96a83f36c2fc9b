// Structure analysis rate: analyzeMessage() over a mix of messages with a
// 15 KB median (text, alternative, small attachments) plus a few MB-sized
// ones, in msgs/s and MB/s. Peer: @zone-eu/mailsplit's Splitter on the same
// bytes (a streaming MIME splitter that computes no ENVELOPE/BODYSTRUCTURE).
// Also the peak extra heap while analyzeStream() reads a 25 MB message.
// Usage: npx tsx bench/mail-analyze.ts [--quick]
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import mailsplit from '@zone-eu/mailsplit';
import { analyzeMessage, analyzeStream } from '../src/mail/structure/index.js';
import { runWhenMain, type BenchResult } from './result.js';
import { mulberry32 as rng } from '../test/support/prng.js';

function textBody(r: () => number, bytes: number): string {
  const words = ['the', 'encrypted', 'mail', 'arrives', 'at', 'provider', 'and', 'is', 'synced', 'to', 'device'];
  let out = '';
  let line = '';
  while (out.length < bytes) {
    line += words[Math.floor(r() * words.length)] + ' ';
    if (line.length > 70) {
      out += line.trimEnd() + '\r\n';
      line = '';
    }
  }
  return out;
}

function base64Body(r: () => number, bytes: number): string {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) data[i] = Math.floor(r() * 256);
  return (data.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n') + '\r\n';
}

function header(i: number, extra: string): string {
  return `Return-Path: <s${i}@example.org>\r\nReceived: from mx.example.org by mail.example.net; Thu, 26 Nov 2026 10:00:00 +0000\r\nFrom: =?UTF-8?B?w4lsb8Ovc2U=?= <s${i}@example.org>\r\nTo: Bob <bob@example.net>, carol@example.net\r\nSubject: message number ${i} =?ISO-8859-1?Q?caf=E9?=\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${i}@example.org>\r\nMIME-Version: 1.0\r\n${extra}`;
}

/** A message of about `size` bytes with a realistic shape. */
function message(i: number, size: number, r: () => number): Buffer {
  if (size < 6000) return Buffer.from(header(i, 'Content-Type: text/plain; charset=utf-8\r\n') + '\r\n' + textBody(r, size), 'latin1');
  const text = textBody(r, Math.min(size / 3, 8000));
  let raw = header(i, 'Content-Type: multipart/mixed; boundary="m"\r\n') + '\r\n--m\r\nContent-Type: multipart/alternative; boundary="a"\r\n\r\n';
  raw += `--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>${text}</p>\r\n--a--\r\n`;
  const rest = Math.max(0, size - raw.length - 200);
  if (rest > 0) raw += `--m\r\nContent-Type: application/pdf; name="f${i}.pdf"\r\nContent-Disposition: attachment; filename="f${i}.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Body(r, Math.floor((rest * 3) / 4))}`;
  return Buffer.from(raw + '--m--\r\n', 'latin1');
}

/** Sizes: log-normal around a 15 KB median, plus a few MB-sized messages. */
function corpus(count: number, big: number): Buffer[] {
  const r = rng(42);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const u1 = Math.max(r(), 1e-9);
    const normal = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * r());
    const size = Math.min(400_000, Math.max(800, Math.round(15_000 * Math.exp(0.9 * normal))));
    out.push(message(i, size, r));
  }
  for (let i = 0; i < big; i++) out.push(message(count + i, 2_000_000 + i * 1_500_000, r));
  return out;
}

async function splitWithMailsplit(raw: Buffer): Promise<void> {
  const splitter = new mailsplit.Splitter();
  const sink = new Writable({ objectMode: true, write: (_c, _e, cb) => cb() });
  await pipeline(Readable.from([raw]), splitter, sink);
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const msgs = corpus(opts.quick ? 300 : 3000, opts.quick ? 1 : 4);
  const bytes = msgs.reduce((a, m) => a + m.length, 0);
  const sorted = msgs.map((m) => m.length).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  for (const m of msgs.slice(0, 50)) analyzeMessage(m); // warm-up

  // CPU seconds of this process (user + system), so that other load on a
  // shared machine does not distort the figures; wall time is in the note.
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  let wall = Date.now();
  let t = cpu();
  for (const m of msgs) analyzeMessage(m);
  const ours = cpu() - t;
  const oursWall = (Date.now() - wall) / 1000;

  t = cpu();
  for (const m of msgs) await splitWithMailsplit(m);
  const peer = cpu() - t;

  // 25 MB through analyzeStream in 64 KB chunks: extra heap at its peak
  const big = message(1, 25 * 1024 * 1024, rng(7));
  const chunks: Buffer[] = [];
  for (let p = 0; p < big.length; p += 65536) chunks.push(big.subarray(p, p + 65536));
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 1);
  async function* slow() {
    for (const c of chunks) {
      peak = Math.max(peak, process.memoryUsage().heapUsed);
      yield c;
    }
  }
  wall = Date.now();
  t = cpu();
  await analyzeStream(slow());
  const streamSec = cpu() - t;
  clearInterval(sampler);

  const mb = bytes / 1e6;
  const note = `${msgs.length} msgs, median ${(median / 1024).toFixed(1)} KB, ${mb.toFixed(1)} MB total; per CPU second (wall ${oursWall.toFixed(1)} s)`;
  return [
    { name: 'structure analysis rate', value: msgs.length / ours, unit: 'msgs/s', peer: { name: 'mailsplit split only', value: msgs.length / peer }, note },
    { name: 'structure analysis throughput', value: mb / ours, unit: 'MB/s', peer: { name: 'mailsplit split only', value: mb / peer }, note },
    { name: 'analyzeStream 25 MB message', value: big.length / 1e6 / streamSec, unit: 'MB/s', note: 'per CPU second' },
    {
      name: 'analyzeStream 25 MB: peak extra heap',
      value: Math.max(0, peak - before) / 1e6,
      unit: 'MB',
      goal: 'bounded (no body held)',
      note: 'heap sampled at every chunk and every ms; the 25 MB input is allocated before the baseline',
    },
  ];
}

runWhenMain(import.meta.url, run);
