// `sealmail provider start --encryption-workers N`: the real CLI with its MX
// encrypting on worker threads; a message sent to it is stored encrypted to
// the recipient's key, and a bad value is refused before anything starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { runCli } from '../support/cli.js';
import { makeKey, publishKey, registerAndLogin, startProviderCli } from './helpers.js';
import { RawSmtp } from './smtp-client.js';

test('sealmail provider start --encryption-workers 2: the MX runs on two encryption threads and stores mail encrypted to the recipient', { timeout: 180_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-encryption-workers-'));
  const p = await startProviderCli(dir, ['--encryption-workers', '2']);
  try {
    const started = p
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; encryptionWorkers?: number })
      .find((l) => l.msg === 'provider started');
    assert.equal(started?.encryptionWorkers, 2, 'the provider took the option');

    const s = await registerAndLogin(p, 'bob@example.org');
    const key = await makeKey(s.address);
    assert.equal((await publishKey(p, s, key.publicKey)).status, 200);
    const smtp = await RawSmtp.connect(p.mxPort);
    try {
      assert.equal((await smtp.command('EHLO outside.net')).code, 250);
      assert.equal((await smtp.command('MAIL FROM:<a@outside.net>')).code, 250);
      assert.equal((await smtp.command('RCPT TO:<bob@example.org>')).code, 250);
      assert.equal((await smtp.data('Subject: through a worker\r\n\r\nsecret words\r\n')).code, 250);
    } finally {
      smtp.socket.destroy();
    }
    const res = await fetch(`${s.couchUrl}/_all_docs?include_docs=true&attachments=true`, { headers: { authorization: `Bearer ${s.token}`, accept: 'application/json' } });
    const docs = ((await res.json()) as { rows: Array<{ doc: { _attachments?: Record<string, { data: string }> } }> }).rows.map((r) => r.doc);
    const blobs = docs.flatMap((d) => Object.values(d._attachments ?? {}));
    assert.equal(blobs.length, 1, 'one incoming document');
    const sealed = Buffer.from(blobs[0]!.data, 'base64');
    assert.ok(!sealed.includes('secret words'), 'no plaintext at the provider');
    const message = await openpgp.readMessage({ binaryMessage: sealed });
    const { data } = await openpgp.decrypt({ message, decryptionKeys: key.privateKey, format: 'binary' });
    assert.match(Buffer.from(data as Uint8Array).toString('latin1'), /Subject: through a worker\r\n[\s\S]*secret words/);
  } finally {
    await p.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('sealmail provider start --encryption-workers: a bad value is refused before anything starts', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-encryption-workers-'));
  try {
    const r = runCli({ PATH: process.env.PATH, HOME: dir }, ['provider', 'start', '--domain', 'example.org', '--data', path.join(dir, 'p'), '--encryption-workers', 'many']);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /--encryption-workers many: give a number of threads from 0 to 64/);
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(fs.existsSync(path.join(dir, 'p')), false, 'no data directory made');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
