// Hostile OpenPGP data and Autocrypt headers: random and damaged blobs given
// to the incoming decryption and to key import end in a clear error (a
// message, not a TypeError from deep inside), never in wrong plaintext; random
// or forged Autocrypt headers never throw out of processIncoming and never
// put a key into the keyring that does not belong to the sender.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { KeyManager, KeyManagerError } from '../../src/keymanager/index.js';
import { decryptIncoming, IncomingDecryptError } from '../../src/keymanager/incoming.js';
import { parseAutocryptHeader, formatAutocryptHeader, autocryptField } from '../../src/keymanager/autocrypt.js';
import { openpgp } from '../../src/keymanager/keys.js';

const BUDGET = { interruptAfterTimeLimit: 8000, markInterruptAsFailure: false };

/** A clear error: an Error with a sentence, not a programming error escaping from a parser. */
function assertClearError(err: unknown, what: string): void {
  assert.ok(err instanceof Error, `${what}: threw a non-Error ${String(err)}`);
  assert.ok(!(err instanceof TypeError) && !(err instanceof RangeError) && !(err instanceof ReferenceError), `${what}: ${err.name}: ${err.message}`);
  assert.ok(err.message.length > 0, `${what}: empty error message`);
}

describe('hostile OpenPGP blobs and Autocrypt headers', () => {
  let bob: KeyManager;
  let bobKeys: string[];
  let ciphertext: Buffer;
  let mallory: KeyManager;
  let alice: KeyManager;
  const PLAIN = Buffer.from('Subject: secret\r\n\r\nthe plaintext as it reached the MX\r\n');

  before(async () => {
    bob = new KeyManager({ store: new MemoryDocumentStore(), address: 'bob@example.net', wkd: false });
    mallory = new KeyManager({ store: new MemoryDocumentStore(), address: 'mallory@example.com', wkd: false });
    alice = new KeyManager({ store: new MemoryDocumentStore(), address: 'alice@example.org', wkd: false });
    await Promise.all([bob.ensureOwnKey(), mallory.ensureOwnKey(), alice.ensureOwnKey()]);
    bobKeys = await bob.decryptionKeys();
    const encryptionKeys = await openpgp.readKey({ armoredKey: await bob.exportPublicKey() });
    ciphertext = Buffer.from(
      (await openpgp.encrypt({ message: await openpgp.createMessage({ binary: PLAIN }), encryptionKeys, format: 'binary' })) as Uint8Array,
    );
    assert.ok((await decryptIncoming(Readable.from([ciphertext]), bobKeys)).equals(PLAIN));
  });

  it('incoming decryption: random bytes, armored garbage and damaged ciphertext give IncomingDecryptError, never other plaintext', async () => {
    const blob = fc.oneof(
      fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
      fc.string({ maxLength: 500 }).map((s) => Buffer.from(`-----BEGIN PGP MESSAGE-----\n\n${s}\n-----END PGP MESSAGE-----\n`)),
      fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean()).map(([pos, xor, truncate]) => {
        const at = pos % ciphertext.length;
        const b = truncate ? Buffer.from(ciphertext.subarray(0, at)) : Buffer.from(ciphertext);
        if (!truncate) b[at]! ^= xor;
        return b;
      }),
    );
    await fc.assert(
      fc.asyncProperty(blob, async (bytes) => {
        try {
          const plain = await decryptIncoming(Readable.from([bytes]), bobKeys);
          // A flip in a part the integrity check does not cover (e.g. a packet header's length encoding) may still decrypt: then only to the original.
          assert.ok(plain.equals(PLAIN), 'decrypted to something other than the original');
        } catch (err) {
          assertClearError(err, 'decryptIncoming');
          assert.ok(err instanceof IncomingDecryptError, `${(err as Error).name}: ${(err as Error).message}`);
        }
      }),
      { numRuns: 300, ...BUDGET },
    );
  });

  it('key import: random and damaged key blocks are refused with one clear error type (KeyManagerError bad-key)', async () => {
    const victim = new KeyManager({ store: new MemoryDocumentStore(), address: 'victim@example.org', wkd: false });
    const armored = await alice.exportPublicKey();
    const blocks = fc.oneof(
      fc.string({ maxLength: 800 }),
      fc.string({ maxLength: 800 }).map((s) => `-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n${s}\n-----END PGP PUBLIC KEY BLOCK-----\n`),
      fc.tuple(fc.nat(), fc.integer({ min: 0x21, max: 0x7e })).map(([pos, ch]) => {
        const at = 40 + (pos % (armored.length - 80));
        return armored.slice(0, at) + String.fromCharCode(ch) + armored.slice(at + 1);
      }),
    );
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(blocks, async (block) => {
        try {
          const fprs = await victim.importKeys(block);
          for (const f of fprs) assert.match(f, /^[0-9A-F]{40}$/);
        } catch (err) {
          refused++;
          assertClearError(err, 'importKeys');
          assert.ok(err instanceof KeyManagerError, `${(err as Error).name}: ${(err as Error).message}`);
        }
      }),
      { numRuns: 300, ...BUDGET },
    );
    assert.ok(refused > 0);
    const fresh = new KeyManager({ store: new MemoryDocumentStore(), address: 'victim@example.org', wkd: false });
    await fresh.importKeys(armored);
    assert.equal((await fresh.lookup('alice@example.org')).found, true);
  });

  it('a damaged copy of a key (same fingerprint, broken self-signature) does not block the good copy imported later', { timeout: 30_000 }, async () => {
    const victim = new KeyManager({ store: new MemoryDocumentStore(), address: 'victim@example.org', wkd: false });
    const armored = await alice.exportPublicKey();
    // Byte 146 of the armor falls in the self-signature's hash algorithm: the key parses, its signature cannot verify.
    let damagedImported = false;
    for (const ch of ['A', 'B', 'z']) {
      if (armored[146] === ch) continue;
      damagedImported ||= await victim.importKeys(armored.slice(0, 146) + ch + armored.slice(147)).then(() => true, () => false);
    }
    assert.equal(damagedImported, false, 'a copy whose self-signature cannot be verified is refused');
    await victim.importKeys(armored);
    const r = await victim.lookup('alice@example.org');
    assert.equal(r.found, true, `${damagedImported ? 'after a damaged copy was accepted: ' : ''}${JSON.stringify(r).slice(0, 200)}`);
  });

  it('Autocrypt: random header values never throw; parseAutocryptHeader returns null or a well-formed header', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.tuple(fc.string({ maxLength: 40 }), fc.constantFrom('mutual', 'nopreference', '', 'x'), fc.string({ maxLength: 200 }), fc.string({ maxLength: 20 })).map(
        ([addr, pe, keydata, extra]) => `addr=${addr}; prefer-encrypt=${pe}; keydata=${keydata}; ${extra}`,
      ),
    );
    fc.assert(
      fc.property(value, (v) => {
        const h = parseAutocryptHeader(v);
        if (h) {
          assert.equal(typeof h.addr, 'string');
          assert.ok(h.keydata.length > 0);
          assert.ok(['mutual', 'nopreference'].includes(h.preferEncrypt));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('Autocrypt: forged, garbage and oversized headers never throw and never add a key that is not the sender\'s', async () => {
    const receiver = new KeyManager({ store: new MemoryDocumentStore(), address: 'bob@example.net', wkd: false });
    const malloryKey = (await openpgp.readKey({ armoredKey: await mallory.exportPublicKey() })).write();
    const aliceKey = (await openpgp.readKey({ armoredKey: await alice.exportPublicKey() })).write();
    const header = (keydata: Uint8Array, addr = 'alice@example.org'): string => autocryptField('Autocrypt', formatAutocryptHeader({ addr, preferEncrypt: 'mutual', keydata }));
    const message = (headers: string): Buffer => Buffer.from(`From: alice@example.org\r\nTo: bob@example.net\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n${headers}Subject: hi\r\n\r\nhi\r\n`);
    const hostile = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((k) => header(k)),
      fc.constant(header(malloryKey)), // mallory's key claiming to be alice's
      fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([pos, xor]) => {
        const k = new Uint8Array(aliceKey);
        k[pos % k.length]! ^= xor;
        return header(k, 'alice@example.org') + header(k, 'alice@example.org'); // two headers: ignored by §2.3
      }),
      fc.string({ maxLength: 300 }).map((s) => `Autocrypt: ${s.replace(/[\r\n]/g, ' ')}\r\n`),
      fc.constant(header(new Uint8Array(1024 * 1024).fill(0x99))),
    );
    await fc.assert(
      fc.asyncProperty(hostile, fc.boolean(), async (headers, encrypted) => {
        await receiver.processIncoming(message(headers), { encrypted });
        const doc = await receiver.keyring.load('alice@example.org');
        for (const k of doc.keys) assert.notEqual(k.fingerprint, (await mallory.ownKey())!.fingerprint, 'mallory key accepted for alice');
      }),
      { numRuns: 150, ...BUDGET },
    );
    const malloryDoc = await receiver.keyring.load('mallory@example.com');
    assert.equal(malloryDoc.keys.length, 0);
    // Positive control: alice's real header is accepted.
    await receiver.processIncoming(message(header(aliceKey)), { encrypted: false });
    assert.equal((await receiver.keyring.load('alice@example.org')).keys.length, 1);
  });
});
