// Synthetic mail for the mail-store benchmarks: deterministic (seeded), every
// message distinct, sizes log-normal around a 15 KB median, plus a few
// MB-sized messages with a base64 attachment, the way a real mailbox looks.
import { mulberry32 as rng } from '../test/support/prng.js';

const MEDIAN = 15 * 1024;
const SIGMA = 1.0;

const WORDS = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua'.split(' ');

function text(rand: () => number, bytes: number): string {
  const lines: string[] = [];
  let n = 0;
  while (n < bytes) {
    const words: string[] = [];
    for (let i = 0; i < 12; i++) words.push(WORDS[Math.floor(rand() * WORDS.length)]);
    const line = words.join(' ');
    lines.push(line);
    n += line.length + 2;
  }
  return lines.join('\r\n');
}

function base64Lines(rand: () => number, bytes: number): string {
  const raw = Buffer.alloc(Math.floor((bytes * 3) / 4));
  for (let i = 0; i < raw.length; i += 4) raw.writeUInt32LE((rand() * 2 ** 32) >>> 0, Math.min(i, raw.length - 4));
  return raw.toString('base64').replace(/.{76}/g, '$&\r\n');
}

/** Message `i` of a corpus; sizes: `bigEvery`-th message is ~3 MB. */
export function corpusMessage(i: number, bigEvery = 2500): Buffer {
  const rand = rng(i + 1);
  const u1 = Math.max(rand(), 1e-9);
  const u2 = rand();
  const normal = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  let size = Math.min(Math.round(MEDIAN * Math.exp(SIGMA * normal)), 1_000_000);
  if (bigEvery > 0 && i % bigEvery === bigEvery - 1) size = 3 * 1024 * 1024;
  const head =
    `From: Sender ${i % 97} <sender${i % 97}@example.net>\r\nTo: alice@example.org\r\n` +
    `Subject: Message number ${i} =?UTF-8?Q?caf=C3=A9?=\r\nDate: Thu, 26 Nov 2026 10:${String(i % 60).padStart(2, '0')}:00 +0000\r\n` +
    `Message-ID: <bench-${i}@example.net>\r\nMIME-Version: 1.0\r\n`;
  if (size < 20 * 1024) {
    return Buffer.from(`${head}Content-Type: text/plain; charset=utf-8\r\n\r\n${text(rand, size)}\r\n`);
  }
  const b = `b${i}x`;
  return Buffer.from(
    `${head}Content-Type: multipart/mixed; boundary="${b}"\r\n\r\n--${b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n` +
      `${text(rand, 2000)}\r\n--${b}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="f${i}.bin"\r\n` +
      `Content-Transfer-Encoding: base64\r\n\r\n${base64Lines(rand, size - 2500)}\r\n--${b}--\r\n`,
  );
}
