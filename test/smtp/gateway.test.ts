// The gateway end to end: nodemailer submits like Thunderbird (STARTTLS,
// AUTH), the queue relays to a local sink, and the real gpg reads what the
// recipients get.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import selfsigned from 'selfsigned';
import { TempSoledads } from '../keymanager/temp-soledad.js';
import { KeyManager } from '../../src/keymanager/index.js';
import { headerValue, parseContentType, parseHeader, splitEntity, splitMultipart } from '../../src/keymanager/mime.js';
import { OutgoingQueue, startSmtpGateway, type SmtpGateway } from '../../src/smtp/index.js';
import { createGpg, type Gpg } from '../support/gpg.js';
import { SINK_TOKEN, SINK_USER, startSink, type Sink } from './sink.js';

const ALICE = SINK_USER;
const STRICT = 'strict@example.org';
const BOB = 'bob@example.net';
const CAROL = 'carol@example.com';
const DAVE = 'dave@example.net';

function top(raw: Buffer): { fields: ReturnType<typeof parseHeader>; mime: string; parts: Buffer[] } {
  const { header, body } = splitEntity(raw);
  const fields = parseHeader(header);
  const ct = parseContentType(headerValue(fields, 'content-type'));
  return { fields, mime: ct.mime, parts: ct.params.boundary ? splitMultipart(body, ct.params.boundary) : [] };
}

describe('SMTP gateway', () => {
  let gpg: Gpg;
  const stores = new TempSoledads();
  let sink: Sink;
  let queue: OutgoingQueue;
  let gateway: SmtpGateway;
  let alice: KeyManager;
  const bounces: Buffer[] = [];

  before(async () => {
    gpg = await createGpg();
    sink = await startSink();
    alice = new KeyManager({ store: await stores.create(), address: ALICE, wkd: false });
    await alice.ensureOwnKey();
    const strict = new KeyManager({ store: await stores.create(), address: STRICT, wkd: false });
    await strict.ensureOwnKey();
    await gpg.generateKey(BOB);
    await gpg.generateKey(DAVE);
    await alice.importKeys(await gpg.exportPublic(BOB));
    await alice.importKeys(await gpg.exportPublic(DAVE));
    await strict.importKeys(await gpg.exportPublic(BOB));
    await gpg.importKey(await alice.exportPublicKey());
    queue = new OutgoingQueue({
      store: (await stores.create()).local,
      relay: { host: '127.0.0.1', port: sink.port, user: SINK_USER, token: SINK_TOKEN },
      deliverBounce: async (raw) => void bounces.push(raw),
      backoff: { initialMs: 50 },
    });
    await queue.start();
    const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048 });
    gateway = await startSmtpGateway({
      port: 0,
      tls: { key: pems.private, cert: pems.cert },
      queue,
      accounts: [
        { address: ALICE, password: 'local-pw', keymanager: alice, alwaysEncrypt: false },
        { address: STRICT, password: 'strict-pw', keymanager: strict, alwaysEncrypt: true },
      ],
    });
  });

  after(async () => {
    await gateway.close();
    await queue.stop();
    await sink.close();
    await gpg.close();
    await stores.closeAll();
  });

  const client = (user: string, pass: string) =>
    nodemailer.createTransport({
      host: '127.0.0.1', port: gateway.port, secure: false, requireTLS: true,
      tls: { rejectUnauthorized: false }, auth: { user, pass },
    });

  it('sends one copy per recipient: encrypted with a key, signed without, Bcc invisible', async () => {
    sink.received.length = 0;
    const raw =
      `From: Alice <${ALICE}>\r\nTo: Bob <${BOB}>\r\nCc: ${CAROL}\r\nBcc: ${DAVE}\r\nSubject: Plans\r\n` +
      `Message-ID: <plans-1@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Transfer-Encoding: 8bit\r\n\r\nMeet at noon. Grüße\r\n`;
    const info = await client(ALICE, 'local-pw').sendMail({ envelope: { from: ALICE, to: [BOB, CAROL, DAVE] }, raw });
    assert.deepEqual(info.accepted.sort(), [BOB, CAROL, DAVE].sort());
    await queue.idle();
    assert.equal(sink.received.length, 3);
    const byRcpt = new Map(sink.received.map((r) => [r.to.join(','), r]));
    assert.equal(byRcpt.size, 3, 'each copy has exactly one envelope recipient');

    for (const rcpt of [BOB, DAVE]) {
      const m = byRcpt.get(rcpt)!;
      assert.equal(m.from, ALICE);
      const t = top(m.raw);
      assert.equal(t.mime, 'multipart/encrypted', `${rcpt} gets an encrypted copy`);
      assert.doesNotMatch(m.raw.toString(), /Meet at noon/);
      assert.match(headerValue(t.fields, 'autocrypt') ?? '', new RegExp(`^addr=${ALICE};`));
      assert.equal(headerValue(t.fields, 'message-id'), '<plans-1@example.org>');
      const r = await gpg.run(['--status-fd', '2', '--decrypt'], splitEntity(t.parts[1]).body);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /GOODSIG/);
      const plain = r.stdout.toString('utf8');
      assert.match(plain, /Meet at noon/);
      // Exact forms only: base64 key data (Autocrypt-Gossip) can hold 'dave' or 'bcc' by chance.
      assert.doesNotMatch(plain, /dave@example\.net|^Bcc:/im, 'no trace of the Bcc recipient inside');
      // Several visible recipients: gossip for the one with a key (Bob), never the Bcc one.
      assert.match(plain, new RegExp(`Autocrypt-Gossip: addr=${BOB};`));
    }
    const c = byRcpt.get(CAROL)!;
    const t = top(c.raw);
    assert.equal(t.mime, 'multipart/signed');
    assert.match(c.raw.toString('utf8'), /Meet at noon/);
    assert.doesNotMatch(c.raw.toString('utf8'), /dave@example\.net|^Bcc:/im);
    assert.ok(c.raw.every((b) => b < 0x80), 'signed copy is 7-bit');
    // The signature survived the trip through two SMTP hops: gpg verifies the exact part bytes.
    const dir = fs.mkdtempSync(path.join(gpg.home, 'sig-'));
    fs.writeFileSync(path.join(dir, 'part'), t.parts[0]);
    fs.writeFileSync(path.join(dir, 'sig.asc'), splitEntity(t.parts[1]).body);
    const v = await gpg.run(['--status-fd', '2', '--verify', path.join(dir, 'sig.asc'), path.join(dir, 'part')]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stderr, /GOODSIG/);
  });

  it('passes a message the client already encrypted through unchanged (no double wrapping), Bcc still removed', async () => {
    sink.received.length = 0;
    const armored = (await gpg.ok(['--armor', '--encrypt', '-r', BOB], 'Content-Type: text/plain\r\n\r\nclient-side encrypted\r\n')).toString();
    const raw =
      `From: ${ALICE}\r\nTo: ${BOB}\r\nBcc: ${DAVE}\r\nSubject: own pgp\r\nMessage-ID: <own-pgp@example.org>\r\nMIME-Version: 1.0\r\n` +
      'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="tb"\r\n\r\n' +
      '--tb\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n' +
      `--tb\r\nContent-Type: application/octet-stream\r\n\r\n${armored}\r\n--tb--\r\n`;
    await client(ALICE, 'local-pw').sendMail({ envelope: { from: ALICE, to: [BOB, DAVE] }, raw });
    await queue.idle();
    assert.equal(sink.received.length, 2);
    for (const m of sink.received) {
      const text = m.raw.toString();
      assert.doesNotMatch(text, /^Bcc:/im);
      assert.ok(text.includes(armored.trim().replace(/\r?\n/g, '\r\n')), 'the client\'s ciphertext is relayed as is');
      assert.equal((text.match(/BEGIN PGP MESSAGE/g) ?? []).length, 1, 'not wrapped again');
    }
    const r = await gpg.run(['--decrypt'], armored);
    assert.match(r.stdout.toString(), /client-side encrypted/);
  });

  it('refuses a sender that is not the logged-in account, and a wrong password', async () => {
    await assert.rejects(
      client(ALICE, 'local-pw').sendMail({ envelope: { from: 'mallory@example.org', to: [BOB] }, raw: 'Subject: x\r\n\r\nx\r\n' }),
      (err: Error & { responseCode?: number }) => err.responseCode === 553 && /mallory@example\.org/.test(err.message),
    );
    await assert.rejects(
      client(ALICE, 'local-pw').sendMail({ envelope: { from: STRICT, to: [BOB] }, raw: 'Subject: x\r\n\r\nx\r\n' }),
      (err: Error & { responseCode?: number }) => err.responseCode === 553,
    );
    await assert.rejects(
      client(ALICE, 'nope').sendMail({ envelope: { from: ALICE, to: [BOB] }, raw: 'Subject: x\r\n\r\nx\r\n' }),
      (err: Error & { responseCode?: number }) => err.responseCode === 535,
    );
  });

  it('under always-encrypt refuses a recipient without a key, naming it, and still sends to the others', async () => {
    sink.received.length = 0;
    await assert.rejects(
      client(STRICT, 'strict-pw').sendMail({ envelope: { from: STRICT, to: [CAROL] }, raw: `From: ${STRICT}\r\nTo: ${CAROL}\r\nSubject: x\r\n\r\nx\r\n` }),
      (err: Error & { responseCode?: number; response?: string }) => /550/.test(String(err.response ?? err.message)) && err.message.includes(CAROL),
    );
    const info = await client(STRICT, 'strict-pw').sendMail({
      envelope: { from: STRICT, to: [BOB, CAROL] },
      raw: `From: ${STRICT}\r\nTo: ${BOB}, ${CAROL}\r\nSubject: y\r\nMessage-ID: <y@example.org>\r\n\r\nsecret\r\n`,
    });
    assert.deepEqual(info.accepted, [BOB]);
    assert.deepEqual(info.rejected, [CAROL]);
    assert.match(String(info.rejectedErrors?.[0]?.message), /no usable OpenPGP key/);
    await queue.idle();
    assert.equal(sink.received.length, 1);
    assert.deepEqual(sink.received[0].to, [BOB]);
    assert.equal(top(sink.received[0].raw).mime, 'multipart/encrypted');
    assert.doesNotMatch(sink.received[0].raw.toString(), /secret/);
  });

  it('a contact set to always-encrypt is refused without a key even when the account is not', async () => {
    await alice.setContactPolicy('erin@example.com', { alwaysEncrypt: true });
    await assert.rejects(
      client(ALICE, 'local-pw').sendMail({ envelope: { from: ALICE, to: ['erin@example.com'] }, raw: `From: ${ALICE}\r\nSubject: x\r\n\r\nx\r\n` }),
      (err: Error) => /550/.test(err.message) && err.message.includes('erin@example.com') && /contact is set to always-encrypt/.test(err.message),
    );
  });

  it('a message the provider refuses permanently comes back as a readable bounce', async () => {
    // gone@ has a key (its copy is encrypted, Subject "..." outside) but the provider refuses it.
    await gpg.generateKey('gone@example.net');
    await alice.importKeys(await gpg.exportPublic('gone@example.net'));
    sink.rules.set('gone@example.net', { code: 550, text: '5.1.1 no such user' });
    const before = bounces.length;
    await client(ALICE, 'local-pw').sendMail({
      envelope: { from: ALICE, to: ['gone@example.net'] },
      raw: `From: ${ALICE}\r\nTo: gone@example.net\r\nSubject: hello\r\nMessage-ID: <b1@example.org>\r\n\r\nhi\r\n`,
    });
    await queue.idle();
    assert.equal(bounces.length, before + 1);
    const text = bounces[bounces.length - 1].toString();
    assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status/);
    assert.match(text, /Final-Recipient: rfc822; gone@example\.net/);
    assert.match(text, /Status: 5\.1\.1/);
    assert.match(text, /Message-ID: <b1@example\.org>/);
    assert.match(text, /^Subject: hello$/m, 'the real Subject, not the protected "..."');
    const item = (await queue.list()).find((i) => i.to === 'gone@example.net');
    assert.equal(item?.state, 'bounced');
    assert.equal(item?.attempts, 1);
  });
});
