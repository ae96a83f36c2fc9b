// The MX encryption pool (src/provider/mx/encrypt-pool.ts): with worker
// threads, every recipient still gets its own doc that decrypts to the exact
// bytes; a job that fails in a worker fails only that message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import nodemailer from 'nodemailer';
import * as openpgp from 'openpgp';
import { makeKey, publishKey, registerAndLogin, startTestProvider } from './helpers.js';
import { EncryptPool } from '../../src/provider/mx/encrypt-pool.js';

test('MX with 2 encryption threads: 24 concurrent messages to 2 users each decrypt to the exact bytes', async () => {
  const p = await startTestProvider({ encryptThreads: 2 });
  try {
    const users = [];
    for (const address of ['alice@example.org', 'bob@example.org']) {
      const s = await registerAndLogin(p, address);
      const key = await makeKey(address);
      assert.equal((await publishKey(p, s, key.publicKey)).status, 200);
      users.push({ address, s, key });
    }
    const sent = new Map<string, Buffer>();
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: p.mxPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 4 });
    await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const id = `<m${i}-${crypto.randomBytes(4).toString('hex')}@outside.net>`;
        // sizes from 1 KB to ~200 KB: all below the streaming threshold, so every one goes to a worker
        const body = crypto.randomBytes(500 + i * 4000).toString('base64').replace(/.{76}/g, '$&\r\n');
        const raw = Buffer.from(`From: s@outside.net\r\nTo: alice@example.org, bob@example.org\r\nMessage-ID: ${id}\r\nSubject: ${i}\r\n\r\n${body}\r\n`);
        sent.set(id, raw);
        await transport.sendMail({ envelope: { from: 's@outside.net', to: ['alice@example.org', 'bob@example.org'] }, raw });
      }),
    );
    transport.close();
    for (const u of users) {
      const res = await fetch(`${u.s.couchUrl}/_all_docs?include_docs=true&attachments=true`, { headers: { authorization: `Bearer ${u.s.token}`, accept: 'application/json' } });
      const rows = ((await res.json()) as { rows: Array<{ doc: { _attachments: Record<string, { data: string }> } }> }).rows;
      assert.equal(rows.length, 24, `24 docs for ${u.address}`);
      const seen = new Set<string>();
      for (const { doc } of rows) {
        const message = await openpgp.readMessage({ binaryMessage: Buffer.from(doc._attachments['message.pgp']!.data, 'base64') });
        const plain = Buffer.from((await openpgp.decrypt({ message, decryptionKeys: u.key.privateKey, format: 'binary' })).data as Uint8Array);
        const id = /Message-ID: (<[^>]+>)/.exec(plain.toString('latin1'))![1]!;
        const original = sent.get(id)!;
        assert.ok(plain.subarray(plain.length - original.length).equals(original), `exact bytes of ${id} for ${u.address}`);
        seen.add(id);
      }
      assert.equal(seen.size, 24);
    }
  } finally {
    await p.close();
  }
});

test('encryption pool: a bad key fails that job only; the pool goes on encrypting', async () => {
  const pool = new EncryptPool(1);
  try {
    const { publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ email: 'x@example.org' }], format: 'object' });
    await assert.rejects(pool.encrypt(new Uint8Array([1, 2, 3]), new Uint8Array([0x99, 0, 1, 2]), 'bogus'));
    const plaintext = crypto.randomBytes(10_000);
    const copy = Buffer.from(plaintext);
    const ciphertext = await pool.encrypt(plaintext, publicKey.write(), publicKey.getFingerprint());
    const message = await openpgp.readMessage({ binaryMessage: ciphertext });
    assert.equal(message.getEncryptionKeyIDs()[0]!.toHex(), publicKey.getSubkeys()[0]!.getKeyID().toHex());
    assert.ok(!Buffer.from(ciphertext).includes(copy.subarray(0, 64)), 'not plaintext');
  } finally {
    await pool.close();
  }
});
