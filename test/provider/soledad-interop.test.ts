// The provider's half of the incoming journey against the real client side:
// Soledad syncs through the gateway and reads the MX's incoming document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import * as openpgp from 'openpgp';
import { Soledad } from '../../src/soledad/index.js';
import { makeKey, publishKey, registerAndLogin, startTestProvider } from './helpers.js';

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

test('Soledad through the gateway: the wrapped secret round-trips to a new device, and the MX incoming doc reads and decrypts', async () => {
  const p = await startTestProvider();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
  let first: Soledad | null = null;
  let second: Soledad | null = null;
  try {
    const s = await registerAndLogin(p, 'alice@example.org');
    const key = await makeKey('alice@example.org');
    assert.equal((await publishKey(p, s, key.publicKey)).status, 200);
    const remote = { url: s.couchUrl, headers: { authorization: `Bearer ${s.token}` } };

    first = await Soledad.create({ dataDir: path.join(dir, 'one'), passphrase: 'pass phrase', remote, liveSync: false, kdf: { N: 1024, r: 8, p: 1 } });
    await first.syncOnce();

    const raw = Buffer.from('From: s@outside.net\r\nTo: alice@example.org\r\nSubject: journey\r\n\r\nthrough the provider\r\n');
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: p.mxPort, secure: false, ignoreTLS: true });
    await t.sendMail({ envelope: { from: 's@outside.net', to: ['alice@example.org'] }, raw });
    t.close();

    // A second device restores from the provider alone (address + passphrase → token → gateway).
    second = await Soledad.restore({ dataDir: path.join(dir, 'two'), passphrase: 'pass phrase', remote, liveSync: false });
    await first.syncOnce();
    for (const device of [first, second]) {
      const docs = [];
      for await (const doc of device.incoming()) docs.push(doc);
      assert.equal(docs.length, 1);
      const ciphertext = await readAll((await docs[0]!.open()) as AsyncIterable<Buffer>);
      assert.equal(docs[0]!.size, ciphertext.length);
      const { data } = await openpgp.decrypt({ message: await openpgp.readMessage({ binaryMessage: ciphertext }), decryptionKeys: key.privateKey, format: 'binary' });
      const plain = Buffer.from(data as Uint8Array);
      assert.match(plain.toString('latin1'), /^Received: from /);
      assert.ok(plain.subarray(plain.length - raw.length).equals(raw));
    }
  } finally {
    await first?.close();
    await second?.close();
    await p.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
