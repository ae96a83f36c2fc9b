// A 25 MB submission to three recipients (two with keys, one without) goes
// through the gateway into the queue and out to a sink, in a child process
// whose memory is sampled: the growth must stay bounded (the house rule:
// nothing holds a 25 MB attachment in memory more than once). The copies that arrive
// are checked with the real gpg: decrypted and verified, and the signed-only
// one verified.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import nodemailer from 'nodemailer';
import { headerValue, parseContentType, parseHeader, splitEntity, splitMultipart } from '../../src/keymanager/mime.js';
import { createGpg } from '../support/gpg.js';
import { SINK_TOKEN, SINK_USER, startSink } from './sink.js';

const ALICE = SINK_USER;
const BOB = 'bob@example.net';
const CAROL = 'carol@example.com';
const NOKEY = 'nokey@example.com';
/** Live memory growth allowed over the warmed-up baseline while the message goes through (the message itself is 24.5 MB). */
const MAX_GROWTH = 100 * 1024 * 1024;
const MAX_RSS_GROWTH = 300 * 1024 * 1024;

function bigMessage(): { raw: Buffer; attachment: Buffer } {
  const attachment = crypto.randomBytes(18 * 1024 * 1024);
  const b64 = attachment.toString('base64').replace(/.{76}/g, '$&\r\n');
  const raw = Buffer.from(
    `From: Alice <${ALICE}>\r\nTo: ${BOB}, ${CAROL}, ${NOKEY}\r\nSubject: the big one\r\nMessage-ID: <big-1@example.org>\r\n` +
      'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n' +
      '--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHere it is. Grüße\r\n' +
      '--b1\r\nContent-Type: application/octet-stream; name="big.bin"\r\nContent-Transfer-Encoding: base64\r\n' +
      `Content-Disposition: attachment; filename="big.bin"\r\n\r\n${b64}\r\n--b1--\r\n`,
    'latin1',
  );
  return { raw, attachment };
}

function top(raw: Buffer): { mime: string; parts: Buffer[] } {
  const { header, body } = splitEntity(raw);
  const ct = parseContentType(headerValue(parseHeader(header), 'content-type'));
  return { mime: ct.mime, parts: ct.params.boundary ? splitMultipart(body, ct.params.boundary) : [] };
}

test('a 25 MB message to 3 recipients goes through gateway, queue and relay with bounded memory', { timeout: 240_000 }, async (t) => {
  const gpg = await createGpg();
  const sink = await startSink();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-big-'));
  t.after(async () => {
    await sink.close();
    await gpg.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await gpg.generateKey(BOB);
  await gpg.generateKey(CAROL);
  const keysFile = path.join(dir, 'recipients.json');
  fs.writeFileSync(keysFile, JSON.stringify([await gpg.exportPublic(BOB), await gpg.exportPublic(CAROL)]));

  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(import.meta.dirname, 'big-submission-child.ts')], {
    env: { ...process.env, ALICE, SINK_PORT: String(sink.port), SINK_TOKEN, RECIPIENT_KEYS: keysFile, WARM_RCPT: BOB, SEALMAIL_LOG_LEVEL: 'warn' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => void (child.exitCode === null && child.kill()));
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const { value, done } = await lines.next();
    assert.ok(!done, 'the child ended early');
    return JSON.parse(value as string) as Record<string, unknown>;
  };
  const ready = (await next()) as { port: number; alicePublic: string; baselineRss: number };
  await gpg.importKey(ready.alicePublic);

  const { raw, attachment } = bigMessage();
  assert.ok(raw.length > 24 * 1024 * 1024 && raw.length < 25 * 1024 * 1024, `message size ${raw.length}`);
  const started = Date.now();
  const client = nodemailer.createTransport({ host: '127.0.0.1', port: ready.port, secure: false, ignoreTLS: true, auth: { user: ALICE, pass: 'pw' } });
  const info = await client.sendMail({ envelope: { from: ALICE, to: [BOB, CAROL, NOKEY] }, raw });
  const queuedMs = Date.now() - started;
  assert.deepEqual(info.accepted.sort(), [BOB, CAROL, NOKEY].sort());
  const deadline = Date.now() + 180_000;
  while (sink.received.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(sink.received.length, 3, 'three copies relayed');
  const relayedMs = Date.now() - started;
  child.stdin!.write('report\n');
  const report = (await next()) as { baselineRss: number; peakRss: number; baselineLive: number; peakLive: number };
  const growth = report.peakLive - report.baselineLive;
  const rssGrowth = report.peakRss - report.baselineRss;
  const mb = (n: number): string => (n / 1024 / 1024).toFixed(0);
  t.diagnostic(
    `live (heap + Buffers after GC) ${mb(report.baselineLive)} -> ${mb(report.peakLive)} MB, growth ${mb(growth)} MB; ` +
      `RSS ${mb(report.baselineRss)} -> ${mb(report.peakRss)} MB, growth ${mb(rssGrowth)} MB; 250 after ${queuedMs} ms, all relayed after ${relayedMs} ms`,
  );

  const byRcpt = new Map(sink.received.map((r) => [r.to.join(','), r.raw]));
  for (const rcpt of [BOB, CAROL]) {
    const copy = byRcpt.get(rcpt)!;
    const t1 = top(copy);
    assert.equal(t1.mime, 'multipart/encrypted', `${rcpt} gets an encrypted copy`);
    const r = await gpg.run(['--status-fd', '2', '--decrypt'], splitEntity(t1.parts[1]!).body);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /GOODSIG/);
    const inner = top(r.stdout);
    assert.equal(inner.mime, 'multipart/mixed');
    const att = splitEntity(inner.parts[1]!).body.toString('latin1');
    assert.ok(Buffer.from(att, 'base64').equals(attachment), `${rcpt}: the attachment arrives intact`);
  }
  const signed = byRcpt.get(NOKEY)!;
  const s = top(signed);
  assert.equal(s.mime, 'multipart/signed');
  assert.ok(signed.every((b) => b < 0x80), 'signed copy is 7-bit');
  fs.writeFileSync(path.join(dir, 'part'), s.parts[0]!);
  fs.writeFileSync(path.join(dir, 'sig.asc'), splitEntity(s.parts[1]!).body);
  const v = await gpg.run(['--status-fd', '2', '--verify', path.join(dir, 'sig.asc'), path.join(dir, 'part')]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stderr, /GOODSIG/);
  assert.ok(growth < MAX_GROWTH, `live memory grew by ${mb(growth)} MB (limit ${mb(MAX_GROWTH)} MB)`);
  // RSS also counts the store's native memory (LevelDB grows by ~140 MB writing these 130 MB of blobs, whoever
  // writes them) and uncollected garbage: a loose bound that still catches several whole copies held at once.
  assert.ok(rssGrowth < MAX_RSS_GROWTH, `RSS grew by ${mb(rssGrowth)} MB (limit ${mb(MAX_RSS_GROWTH)} MB)`);
});
