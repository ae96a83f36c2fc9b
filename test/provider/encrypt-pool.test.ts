// The MX's encryption pool on its own: real worker threads, real OpenPGP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import * as openpgp from 'openpgp';
import { EncryptPool } from '../../src/provider/mx/encrypt-pool.js';

async function keyPair(email: string, keyExpirationTime = 0) {
  return openpgp.generateKey({ type: 'curve25519', userIDs: [{ email }], keyExpirationTime, format: 'object' });
}

async function gather(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<Buffer> {
  if (data instanceof Uint8Array) return Buffer.from(data);
  const chunks: Buffer[] = [];
  for await (const c of data) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function decrypt(ciphertext: Buffer, key: openpgp.PrivateKey): Promise<Buffer> {
  const message = await openpgp.readMessage({ binaryMessage: ciphertext });
  const { data } = await openpgp.decrypt({ message, decryptionKeys: key, format: 'binary' });
  return Buffer.from(data as Uint8Array);
}

/** `size` pseudo-random bytes in pieces of 16 KB, counting how many were read. */
function source(size: number, seed = 'x'): { stream: Readable; bytes: Buffer; produced(): number } {
  const bytes = Buffer.concat(Array.from({ length: Math.ceil(size / 32) }, (_, i) => crypto.createHash('sha256').update(seed + i).digest())).subarray(0, size);
  let produced = 0;
  async function* pieces() {
    for (let at = 0; at < size; at += 16 * 1024) {
      const piece = bytes.subarray(at, Math.min(size, at + 16 * 1024));
      produced += piece.length;
      yield piece;
    }
  }
  return { stream: Readable.from(pieces()), bytes, produced: () => produced };
}

test('encrypt pool: small and streamed messages to several keys at once each decrypt with their own key only', async () => {
  const pool = new EncryptPool(2);
  try {
    const keys = await Promise.all(['a', 'b', 'c'].map((n) => keyPair(`${n}@example.org`)));
    const sizes = [1, 5_000, 200_000, 262_144, 262_145, 700_000, 3_000_000];
    const jobs = sizes.flatMap((size, i) =>
      keys.map(async (k, j) => {
        const src = source(size, `${i}-${j}`);
        const out = await gather(await pool.encrypt(k.publicKey, src.stream, new AbortController().signal));
        return { out, bytes: src.bytes, key: j };
      }),
    );
    const results = await Promise.all(jobs);
    for (const r of results) {
      const plain = await decrypt(r.out, keys[r.key]!.privateKey);
      assert.ok(plain.equals(r.bytes), `${r.bytes.length} bytes round-trip`);
      await assert.rejects(decrypt(r.out, keys[(r.key + 1) % keys.length]!.privateKey));
    }
  } finally {
    await pool.close();
  }
});

test('encrypt pool: a 20 MB message streams with bounded read-ahead; a slow reader holds the plaintext back', async () => {
  const pool = new EncryptPool(1);
  try {
    const { publicKey, privateKey } = await keyPair('big@example.org');
    const size = 20 * 1024 * 1024;
    const src = source(size);
    const out = await pool.encrypt(publicKey, src.stream, new AbortController().signal);
    assert.ok(!(out instanceof Uint8Array), 'a large message is streamed');
    const chunks: Buffer[] = [];
    let read = 0;
    let maxAhead = 0;
    for await (const c of out) {
      chunks.push(Buffer.from(c));
      read += c.length;
      // Let the pipeline run ahead as far as it will before reading on.
      await new Promise((r) => setTimeout(r, 2));
      maxAhead = Math.max(maxAhead, src.produced() - read);
    }
    // Head (256 KB) + blocks in flight both ways + openpgp's own buffers: a few MB at most, never the message.
    assert.ok(maxAhead < 4 * 1024 * 1024, `plaintext read ahead of the ciphertext: ${maxAhead} bytes`);
    assert.ok((await decrypt(Buffer.concat(chunks), privateKey)).equals(src.bytes));
  } finally {
    await pool.close();
  }
});

test('encrypt pool: a key the worker cannot use rejects (small and streamed), the pool goes on working', async () => {
  const pool = new EncryptPool(1);
  try {
    // Valid when made, expired a second later: RCPT would have accepted it.
    const expired = await keyPair('old@example.org', 1);
    const good = await keyPair('new@example.org');
    await new Promise((r) => setTimeout(r, 2100));
    for (const size of [10_000, 1_000_000]) {
      await assert.rejects(
        (async () => gather(await pool.encrypt(expired.publicKey, source(size).stream, new AbortController().signal)))(),
        (err: Error) => /key/i.test(err.message),
      );
    }
    const src = source(1_000_000);
    const out = await gather(await pool.encrypt(good.publicKey, src.stream, new AbortController().signal));
    assert.ok((await decrypt(out, good.privateKey)).equals(src.bytes));
  } finally {
    await pool.close();
  }
});

test('encrypt pool: an aborted job and a closing pool reject; nothing runs after close', async () => {
  const pool = new EncryptPool(1);
  const { publicKey } = await keyPair('x@example.org');
  // A plaintext that stops after 1 MB and never ends.
  const stalled = () =>
    Readable.from(
      (async function* () {
        yield* [Buffer.alloc(512 * 1024, 1), Buffer.alloc(512 * 1024, 2)];
        await new Promise(() => undefined);
      })(),
    );
  const controller = new AbortController();
  const aborted = (async () => gather(await pool.encrypt(publicKey, stalled(), controller.signal)))();
  setTimeout(() => controller.abort(new Error('client went away')), 200);
  await assert.rejects(aborted, /client went away/);

  const cut = (async () => gather(await pool.encrypt(publicKey, stalled(), new AbortController().signal)))();
  const cutRejects = assert.rejects(cut, /shutting down/);
  await new Promise((r) => setTimeout(r, 200));
  await pool.close();
  await cutRejects;
  await assert.rejects(pool.encrypt(publicKey, source(100).stream, new AbortController().signal), /shutting down/);
});
