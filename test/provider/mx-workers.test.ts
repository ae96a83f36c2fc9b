// The MX with its encryption on worker threads (the provider's default):
// many deliveries at once, and a worker that cannot encrypt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as openpgp from 'openpgp';
import { makeKey, publishKey, registerAndLogin, startTestProvider, type Session } from './helpers.js';
import { RawSmtp } from './smtp-client.js';

interface Incoming {
  _attachments: Record<string, { data: string }>;
}

async function incoming(s: Session): Promise<Incoming[]> {
  const res = await fetch(`${s.couchUrl}/_all_docs?include_docs=true&attachments=true`, { headers: { authorization: `Bearer ${s.token}`, accept: 'application/json' } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { rows: Array<{ doc: Incoming }> }).rows.map((r) => r.doc);
}

async function decrypt(doc: Incoming, key: openpgp.PrivateKey): Promise<string> {
  const message = await openpgp.readMessage({ binaryMessage: Buffer.from(doc._attachments['message.pgp']!.data, 'base64') });
  const { data } = await openpgp.decrypt({ message, decryptionKeys: key, format: 'binary' });
  return Buffer.from(data as Uint8Array).toString('latin1');
}

/** One SMTP transaction on an open session; returns the final reply code. */
async function send(c: RawSmtp, to: string[], body: string): Promise<number> {
  assert.equal((await c.command('MAIL FROM:<s@outside.net>')).code, 250);
  for (const rcpt of to) assert.equal((await c.command(`RCPT TO:<${rcpt}>`)).code, 250);
  return (await c.data(body)).code;
}

/** A message naming its recipients and number, some large enough to be streamed. */
function message(n: number, to: string[]): string {
  const filler = n % 5 === 0 ? ('f'.repeat(76) + '\r\n').repeat(6000) : ('s'.repeat(76) + '\r\n').repeat(n % 50);
  return `Subject: m${n}\r\nX-For: ${to.join(',')}\r\n\r\nnumber ${n}\r\n${filler}end ${n}\r\n`;
}

test('MX on workers: 60 messages over 6 connections at once each end up encrypted to their own recipients only', { timeout: 120_000 }, async () => {
  const p = await startTestProvider({ encryptionWorkers: 2 });
  try {
    const users = await Promise.all(
      ['ann', 'ben', 'cat', 'dan'].map(async (name) => {
        const address = `${name}@example.org`;
        const s = await registerAndLogin(p, address);
        const key = await makeKey(address);
        assert.equal((await publishKey(p, s, key.publicKey)).status, 200);
        return { address, s, key };
      }),
    );
    const sent = new Map<string, number[]>(users.map((u) => [u.address, []]));
    await Promise.all(
      Array.from({ length: 6 }, async (_, conn) => {
        const c = await RawSmtp.connect(p.mxPort);
        await c.command('EHLO sender.outside.net');
        for (let i = 0; i < 10; i++) {
          const n = conn * 10 + i;
          // Every seventh message goes to two recipients.
          const to = [users[n % 4]!.address, ...(n % 7 === 0 ? [users[(n + 1) % 4]!.address] : [])];
          assert.equal(await send(c, to, message(n, to)), 250, `message ${n}`);
          for (const a of to) sent.get(a)!.push(n);
        }
        c.close();
      }),
    );
    for (const [i, u] of users.entries()) {
      const docs = await incoming(u.s);
      const got: number[] = [];
      for (const doc of docs) {
        const text = await decrypt(doc, u.key.privateKey);
        assert.ok(text.includes(`\tfor <${u.address}>;`), 'Received: names this recipient');
        const n = Number(/number (\d+)\r\n/.exec(text)![1]);
        assert.ok(text.endsWith(`end ${n}\r\n`), `message ${n} complete`);
        assert.ok(/X-For: ([^\r]*)/.exec(text)![1]!.split(',').includes(u.address));
        got.push(n);
      }
      assert.deepEqual(got.sort((a, b) => a - b), sent.get(u.address)!.sort((a, b) => a - b), `${u.address} got exactly its messages`);
      // Encrypted to this recipient only.
      await assert.rejects(decrypt(docs[0]!, users[(i + 1) % 4]!.key.privateKey));
    }
  } finally {
    await p.dispose();
  }
});

test('MX on workers: a key the worker cannot use gives 451 and stores nothing, for any recipient; the MX goes on', { timeout: 60_000 }, async () => {
  const p = await startTestProvider({ encryptionWorkers: 1 });
  try {
    const good = await registerAndLogin(p, 'good@example.org');
    const goodKey = await makeKey('good@example.org');
    assert.equal((await publishKey(p, good, goodKey.publicKey)).status, 200);
    // A key valid at upload that expires two seconds later: RCPT still accepts it.
    const stale = await registerAndLogin(p, 'stale@example.org');
    const { publicKey } = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'stale@example.org' }], keyExpirationTime: 2, format: 'armored' });
    assert.equal((await publishKey(p, stale, publicKey)).status, 200);
    await new Promise((r) => setTimeout(r, 3000));

    const c = await RawSmtp.connect(p.mxPort);
    await c.command('EHLO sender.outside.net');
    const marker = crypto.randomBytes(8).toString('hex');
    const small = `Subject: ${marker}\r\n\r\nsmall\r\n`;
    const large = `Subject: ${marker}\r\n\r\n${('L'.repeat(76) + '\r\n').repeat(20_000)}`;
    for (const body of [small, large]) {
      assert.equal(await send(c, ['stale@example.org'], body), 451);
      // With a good recipient too: the good copy is not kept either (all or nothing).
      assert.equal(await send(c, ['good@example.org', 'stale@example.org'], body), 451);
    }
    assert.equal((await incoming(stale)).length, 0);
    assert.equal((await incoming(good)).length, 0);

    assert.equal(await send(c, ['good@example.org'], large), 250);
    c.close();
    const docs = await incoming(good);
    assert.equal(docs.length, 1);
    assert.ok((await decrypt(docs[0]!, goodKey.privateKey)).includes(marker));
  } finally {
    await p.dispose();
  }
});
