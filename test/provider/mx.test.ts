import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import nodemailer from 'nodemailer';
import * as openpgp from 'openpgp';
import { makeKey, publishKey, registerAndLogin, startTestProvider, walkFiles, type Session, type TestProvider } from './helpers.js';
import { RawSmtp } from './smtp-client.js';

interface IncomingOnWire {
  _id: string;
  sealmail: string;
  v: number;
  receivedAt: string;
  _attachments: Record<string, { content_type: string; data: string }>;
}

async function incomingDocs(s: Session): Promise<IncomingOnWire[]> {
  const res = await fetch(`${s.couchUrl}/_all_docs?include_docs=true&attachments=true`, {
    headers: { authorization: `Bearer ${s.token}`, accept: 'application/json' },
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { rows: Array<{ doc: IncomingOnWire }> };
  return body.rows.map((r) => r.doc);
}

async function decrypt(doc: IncomingOnWire, key: openpgp.PrivateKey): Promise<Buffer> {
  const binary = Buffer.from(doc._attachments['message.pgp']!.data, 'base64');
  const message = await openpgp.readMessage({ binaryMessage: binary });
  const { data } = await openpgp.decrypt({ message, decryptionKeys: key, format: 'binary' });
  return Buffer.from(data as Uint8Array);
}

function splitReceived(plain: Buffer): { received: string; rest: Buffer } {
  // The Received field is folded over three lines; the message starts after its last CRLF.
  const text = plain.toString('latin1');
  const m = /^Received: from [^\r]*\r\n\tby [^\r]*\r\n\tfor <[^>]+>; [^\r]*\r\n/.exec(text);
  assert.ok(m, 'decrypted message starts with a Received: header');
  return { received: m[0], rest: plain.subarray(Buffer.byteLength(m[0], 'latin1')) };
}

async function setup(p: TestProvider, address: string) {
  const s = await registerAndLogin(p, address);
  const key = await makeKey(address);
  const put = await publishKey(p, s, key.publicKey);
  assert.equal(put.status, 200, await put.clone().text());
  return { s, key };
}

test('MX: nodemailer → MX → one encrypted incoming doc per recipient, exact bytes + Received, no plaintext anywhere', async () => {
  const p = await startTestProvider();
  try {
    const alice = await setup(p, 'alice@example.org');
    const bob = await setup(p, 'bob@example.org');
    const marker = 'PLAINTEXT-MARKER-' + crypto.randomBytes(8).toString('hex');
    const body = Array.from({ length: 4000 }, (_, i) => `line ${i} ${marker}`).join('\r\n');
    const raw = Buffer.from(
      `From: Sender <sender@outside.net>\r\nTo: alice@example.org, bob@example.org\r\nSubject: ${marker}\r\nMessage-ID: <m1@outside.net>\r\n\r\n.leading dot line\r\n${body}\r\n`,
    );
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: p.mxPort, secure: false, ignoreTLS: true, name: 'sender.outside.net' });
    const info = await transport.sendMail({ envelope: { from: 'sender@outside.net', to: ['alice@example.org', 'Bob@Example.org'] }, raw });
    transport.close();
    assert.deepEqual(info.accepted.map((a) => String(a).toLowerCase()).sort(), ['alice@example.org', 'bob@example.org']);
    assert.match(info.response, /^250 .*2 document/);

    for (const [who, address] of [[alice, 'alice@example.org'], [bob, 'bob@example.org']] as const) {
      const docs = await incomingDocs(who.s);
      assert.equal(docs.length, 1, `one doc for ${address}`);
      const doc = docs[0]!;
      assert.match(doc._id, /^incoming-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(doc.sealmail, 'incoming');
      assert.equal(doc.v, 1);
      assert.ok(Math.abs(Date.parse(doc.receivedAt) - Date.now()) < 60_000);
      assert.equal(doc._attachments['message.pgp']!.content_type, 'application/pgp-encrypted');
      const plain = await decrypt(doc, who.key.privateKey);
      const { received, rest } = splitReceived(plain);
      assert.ok(received.includes(`for <${address}>`), received);
      assert.ok(received.includes('from sender.outside.net ([127.0.0.1])'), received);
      assert.ok(Buffer.compare(rest, raw) === 0, 'decrypts to the exact bytes sent');
    }
    // Each copy is encrypted to its own recipient only.
    const aliceDoc = (await incomingDocs(alice.s))[0]!;
    await assert.rejects(decrypt(aliceDoc, bob.key.privateKey));

    // No plaintext in the provider's files or in any document it serves.
    for (const file of walkFiles(p.dataDir)) assert.ok(!fs.readFileSync(file).includes(marker), `marker in ${file}`);
    for (const who of [alice, bob]) assert.ok(!JSON.stringify(await incomingDocs(who.s)).includes(marker));
  } finally {
    await p.dispose();
  }
});

test('MX: unknown user 550, user without key 451, foreign domain 550, oversize 552 (at MAIL and at end of DATA), nothing stored', async () => {
  const p = await startTestProvider({ maxMessageSize: 64 * 1024 });
  try {
    const alice = await setup(p, 'alice@example.org');
    const keyless = await registerAndLogin(p, 'keyless@example.org');
    const c = await RawSmtp.connect(p.mxPort);
    assert.equal((await c.command('EHLO sender.outside.net')).code, 250);
    assert.equal((await c.command('MAIL FROM:<s@outside.net>')).code, 250);
    const unknown = await c.command('RCPT TO:<nobody@example.org>');
    assert.equal(unknown.code, 550);
    assert.match(unknown.text, /5\.1\.1/);
    assert.equal((await c.command('RCPT TO:<keyless@example.org>')).code, 451);
    assert.equal((await c.command('RCPT TO:<someone@elsewhere.net>')).code, 550);
    assert.equal((await c.command('RSET')).code, 250);

    // Declared size over the limit: refused at MAIL FROM (RFC 1870).
    assert.equal((await c.command(`MAIL FROM:<s@outside.net> SIZE=${200 * 1024}`)).code, 552);
    // Undeclared size: the DATA is read, then refused with 552.
    assert.equal((await c.command('MAIL FROM:<s@outside.net>')).code, 250);
    assert.equal((await c.command('RCPT TO:<alice@example.org>')).code, 250);
    const big = 'Subject: big\r\n\r\n' + ('x'.repeat(998) + '\r\n').repeat(100);
    const tooBig = await c.data(big);
    assert.equal(tooBig.code, 552);
    // The session is still usable and a small message goes through.
    assert.equal((await c.command('MAIL FROM:<s@outside.net>')).code, 250);
    assert.equal((await c.command('RCPT TO:<alice@example.org>')).code, 250);
    assert.equal((await c.data('Subject: small\r\n\r\nhello\r\n')).code, 250);
    // One address spelled three ways gets one copy.
    assert.equal((await c.command('MAIL FROM:<s@outside.net>')).code, 250);
    for (const spelling of ['alice@example.org', 'ALICE@example.org', 'Alice@Example.ORG']) {
      assert.equal((await c.command(`RCPT TO:<${spelling}>`)).code, 250);
    }
    assert.equal((await c.data('Subject: twice\r\n\r\nhello\r\n')).code, 250);
    c.close();

    const docs = (await incomingDocs(alice.s)).sort((x, y) => (x.receivedAt < y.receivedAt ? -1 : 1));
    assert.equal(docs.length, 2, 'only the small message and one copy of the multi-spelled one were stored');
    const bodies = await Promise.all(docs.map(async (d) => splitReceived(await decrypt(d, alice.key.privateKey)).rest.toString()));
    assert.deepEqual(bodies.sort(), ['Subject: small\r\n\r\nhello\r\n', 'Subject: twice\r\n\r\nhello\r\n']);
    assert.equal((await incomingDocs(keyless)).length, 0);
  } finally {
    await p.dispose();
  }
});

test('MX: a malformed message is stored encrypted byte-exact; a client vanishing mid-DATA stores nothing', async () => {
  const p = await startTestProvider();
  try {
    const alice = await setup(p, 'alice@example.org');
    // No header/body separator, bare LF, 8-bit and NUL bytes, a dot-stuffed line.
    const head = Buffer.concat([Buffer.from('this is not a header\nbare LF line\r\n'), Buffer.from([0, 0xff, 0xfe, 0x80])]);
    const original = Buffer.concat([head, Buffer.from('\r\n.dot line\r\n')]);
    const stuffed = Buffer.concat([head, Buffer.from('\r\n..dot line\r\n')]);
    const c = await RawSmtp.connect(p.mxPort);
    await c.command('EHLO x');
    await c.command('MAIL FROM:<>');
    assert.equal((await c.command('RCPT TO:<alice@example.org>')).code, 250);
    assert.equal((await c.data(stuffed)).code, 250);

    // Second transaction: the client disconnects halfway through DATA.
    await c.command('MAIL FROM:<>');
    await c.command('RCPT TO:<alice@example.org>');
    assert.equal((await c.command('DATA')).code, 354);
    c.socket.write('Subject: cut\r\n\r\n' + 'y'.repeat(200_000));
    await new Promise((r) => setTimeout(r, 100));
    c.close();
    await new Promise((r) => setTimeout(r, 300));

    const docs = await incomingDocs(alice.s);
    assert.equal(docs.length, 1);
    const { rest } = splitReceived(await decrypt(docs[0]!, alice.key.privateKey));
    assert.ok(Buffer.compare(rest, original) === 0, 'exact bytes of the malformed message');
  } finally {
    await p.dispose();
  }
});

test('MX: a multi-megabyte message to two recipients takes the streaming path and decrypts to the exact bytes', async () => {
  const p = await startTestProvider();
  try {
    const alice = await setup(p, 'alice@example.org');
    const bob = await setup(p, 'bob@example.org');
    // ~3 MB of varied lines (well above the 256 KB single-shot threshold).
    const lines: string[] = [];
    for (let i = 0; lines.length < 40_000; i++) lines.push(crypto.createHash('sha256').update(String(i)).digest('base64') + ' ' + 'z'.repeat(i % 40));
    const raw = Buffer.from(`From: big@outside.net\r\nSubject: large\r\n\r\n${lines.join('\r\n')}\r\n`);
    assert.ok(raw.length > 2_500_000);
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: p.mxPort, secure: false, ignoreTLS: true });
    await transport.sendMail({ envelope: { from: 'big@outside.net', to: ['alice@example.org', 'bob@example.org'] }, raw });
    transport.close();
    for (const who of [alice, bob]) {
      const docs = await incomingDocs(who.s);
      assert.equal(docs.length, 1);
      const { rest } = splitReceived(await decrypt(docs[0]!, who.key.privateKey));
      assert.equal(rest.length, raw.length);
      assert.ok(rest.equals(raw));
    }
  } finally {
    await p.dispose();
  }
});
