import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import * as openpgp from 'openpgp';
import { SMTPServer } from 'smtp-server';
import { makeKey, publishKey, registerAndLogin, startTestProvider } from './helpers.js';

interface Sunk {
  from: string;
  to: string[];
  raw: Buffer;
}

/** "The internet": a plain SMTP sink recording what the relay hands it. */
async function startSink(): Promise<{ port: number; messages: Sunk[]; close(): Promise<void> }> {
  const messages: Sunk[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.server.address() as AddressInfo).port,
    messages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test('submission: AUTH, own MAIL FROM only, local recipients encrypted, external ones relayed to the smarthost', async () => {
  const sink = await startSink();
  const p = await startTestProvider({ relay: { host: '127.0.0.1', port: sink.port } });
  try {
    const password = 'alice password 123';
    const alice = await registerAndLogin(p, 'alice@example.org', password);
    const bob = await registerAndLogin(p, 'bob@example.org');
    const bobKey = await makeKey('bob@example.org');
    assert.equal((await publishKey(p, bob, bobKey.publicKey)).status, 200);

    const raw = Buffer.from('From: alice@example.org\r\nTo: bob@example.org, carol@outside.net\r\nSubject: hi\r\n\r\nhello both\r\n');
    const send = (user: string, pass: string, from: string, to: string[]) => {
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: p.submissionPort, secure: false, ignoreTLS: true, auth: { user, pass } });
      return t.sendMail({ envelope: { from, to }, raw }).finally(() => t.close());
    };

    // Wrong password → 535; wrong sender → 553.
    await assert.rejects(send('alice@example.org', 'wrong', 'alice@example.org', ['bob@example.org']), (e: { responseCode?: number }) => e.responseCode === 535);
    await assert.rejects(send('alice@example.org', password, 'bob@example.org', ['bob@example.org']), (e: { responseCode?: number }) => e.responseCode === 553);
    // Unknown local user → 550.
    await assert.rejects(send('alice@example.org', password, 'alice@example.org', ['ghost@example.org']), (e: { responseCode?: number }) => e.responseCode === 550);

    // With the password: one local and one external recipient.
    const info = await send('alice@example.org', password, 'alice@example.org', ['bob@example.org', 'carol@outside.net']);
    assert.equal(info.accepted.length, 2);
    // With a bearer token instead of the password, over AUTH LOGIN this time.
    const login = nodemailer.createTransport({ host: '127.0.0.1', port: p.submissionPort, secure: false, ignoreTLS: true, authMethod: 'LOGIN', auth: { user: 'alice@example.org', pass: alice.token } });
    await login.sendMail({ envelope: { from: 'Alice@Example.org', to: ['carol@outside.net'] }, raw });
    login.close();

    // The external recipient got the exact bytes, after a Received: trace field, from the right envelope.
    assert.equal(sink.messages.length, 2);
    for (const m of sink.messages) {
      assert.equal(m.from.toLowerCase(), 'alice@example.org');
      assert.deepEqual(m.to, ['carol@outside.net']);
      const text = m.raw.toString('latin1');
      assert.match(text, /^Received: from [^\r]*\r\n\tby mx\.example\.org \(sealmail\) with ESMTPSA id \w+; /);
      assert.ok(m.raw.subarray(m.raw.length - raw.length).equals(raw));
      assert.ok(!text.includes('for <'), 'shared copy names no recipient');
    }

    // The local recipient's copy is stored encrypted to bob.
    const res = await fetch(`${bob.couchUrl}/_all_docs?include_docs=true&attachments=true`, { headers: { authorization: `Bearer ${bob.token}` } });
    const rows = ((await res.json()) as { rows: Array<{ doc: { _attachments: Record<string, { data: string }> } }> }).rows;
    assert.equal(rows.length, 1);
    const message = await openpgp.readMessage({ binaryMessage: Buffer.from(rows[0]!.doc._attachments['message.pgp']!.data, 'base64') });
    const { data } = await openpgp.decrypt({ message, decryptionKeys: bobKey.privateKey, format: 'binary' });
    const plain = Buffer.from(data as Uint8Array);
    assert.match(plain.toString('latin1'), /^Received: [^]*with ESMTPSA[^]*for <bob@example\.org>; /);
    assert.ok(plain.subarray(plain.length - raw.length).equals(raw));
  } finally {
    await p.dispose();
    await sink.close();
  }
});

test('submission: no relay configured → external recipients refused; relay down → 451 and no local copy kept', async () => {
  const p = await startTestProvider();
  const sink = await startSink();
  const deadPort = sink.port;
  await sink.close();
  const p2 = await startTestProvider({ relay: { host: '127.0.0.1', port: deadPort } });
  try {
    for (const prov of [p, p2]) {
      await registerAndLogin(prov, 'alice@example.org', 'alice password 123');
      const bob = await registerAndLogin(prov, 'bob@example.org');
      assert.equal((await publishKey(prov, bob, (await makeKey('bob@example.org')).publicKey)).status, 200);
    }
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: p.submissionPort, secure: false, ignoreTLS: true, auth: { user: 'alice@example.org', pass: 'alice password 123' } });
    await assert.rejects(t.sendMail({ envelope: { from: 'alice@example.org', to: ['x@outside.net'] }, raw: 'Subject: x\r\n\r\nx\r\n' }), (e: { responseCode?: number }) => e.responseCode === 550);
    t.close();

    const t2 = nodemailer.createTransport({ host: '127.0.0.1', port: p2.submissionPort, secure: false, ignoreTLS: true, auth: { user: 'alice@example.org', pass: 'alice password 123' } });
    await assert.rejects(
      t2.sendMail({ envelope: { from: 'alice@example.org', to: ['bob@example.org', 'x@outside.net'] }, raw: 'Subject: x\r\n\r\nx\r\n' }),
      (e: { responseCode?: number }) => e.responseCode === 451,
    );
    t2.close();
    const bob = await (await fetch(new URL('/api/sessions', p2.httpUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: 'bob@example.org', password: 'correct horse battery' }) })).json() as { token: string; couchUrl: string };
    const info = (await (await fetch(bob.couchUrl, { headers: { authorization: `Bearer ${bob.token}` } })).json()) as { doc_count: number };
    assert.equal(info.doc_count, 0, 'the local copy was rolled back so a retry does not duplicate it');
  } finally {
    await p.dispose();
    await p2.dispose();
  }
});
