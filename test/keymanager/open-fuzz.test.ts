// openMessage sees whatever the internet sends: damaged, truncated or hostile
// messages must be reported (failed / invalid), never thrown, and never
// reported as a valid signature.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { KeyManager, openMessage } from '../../src/keymanager/index.js';

const msg = (body: string): Buffer =>
  Buffer.from(`From: alice@example.org\r\nTo: bob@example.net\r\nSubject: fuzz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}\r\n`);

describe('openMessage on damaged input', () => {
  let alice: KeyManager;
  let bob: KeyManager;
  let encrypted: Buffer;
  let signed: Buffer;
  let keys: { decryptionKeys: string[]; verificationKeys: string[] };

  before(async () => {
    alice = new KeyManager({ store: new MemoryDocumentStore(), address: 'alice@example.org', wkd: false });
    bob = new KeyManager({ store: new MemoryDocumentStore(), address: 'bob@example.net', wkd: false });
    await alice.ensureOwnKey();
    await bob.ensureOwnKey();
    encrypted = await alice.encrypt(msg('the original text'), [await bob.exportPublicKey()]);
    signed = await alice.sign(msg('the original text'));
    keys = { decryptionKeys: await bob.decryptionKeys(), verificationKeys: [await alice.exportPublicKey()] };
    const ok = await openMessage(encrypted, keys);
    assert.equal(ok.signature.status, 'valid');
    assert.equal((await openMessage(signed, keys)).signature.status, 'valid');
  });

  for (const [name, original] of [['encrypted', () => encrypted], ['signed', () => signed]] as const) {
    it(`${name}: byte flips and truncations never throw and never verify as the original`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), async (pos, xor, truncate) => {
          const src = original();
          const at = pos % src.length;
          const damaged = truncate ? src.subarray(0, at) : Buffer.from(src);
          if (!truncate) damaged[at] ^= xor;
          const r = await openMessage(damaged, keys);
          assert.ok(['none', 'decrypted', 'failed'].includes(r.encryption));
          // Damage in the headers or armor whitespace may leave the content intact; otherwise it must not verify.
          if (r.signature.status === 'valid') assert.match(r.raw.toString('latin1'), /the original text/);
        }),
        { numRuns: 60 },
      );
    });
  }

  // Found by the property above (seed -826253531): a byte flip in the
  // signature's armor that still parses, but names no known signature type,
  // made openpgp.verify throw ("Invalid enum value") out of openMessage.
  it('signed: a signature packet of an unknown signature type is invalid, not thrown', async () => {
    const text = signed.toString('latin1');
    const begin = text.indexOf('-----BEGIN PGP SIGNATURE-----');
    const endMarker = '-----END PGP SIGNATURE-----';
    const end = text.indexOf(endMarker) + endMarker.length;
    const { data } = await openpgp.unarmor(text.slice(begin, end));
    const packet = Uint8Array.from(data as Uint8Array);
    // New-format packet header (RFC 9580 4.2.1): tag octet, then a 1- or 2-octet length.
    const body = packet[1]! < 192 ? 2 : 3;
    assert.ok([4, 6].includes(packet[body]!), 'a v4 or v6 signature packet');
    packet[body + 1] = 8; // the signature type octet (RFC 9580 5.2.1 defines no type 0x08)
    const rearmored = openpgp.armor(openpgp.enums.armor.signature, packet).replace(/\n/g, '\r\n').trimEnd();
    const damaged = Buffer.from(text.slice(0, begin) + rearmored + text.slice(end), 'latin1');
    const r = await openMessage(damaged, keys);
    assert.deepEqual([r.encryption, r.signature.status], ['none', 'invalid']);
    assert.ok(r.raw.equals(damaged), 'the message itself is kept byte for byte');
  });

  it('arbitrary bytes are opened without throwing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (bytes) => {
        const r = await openMessage(Buffer.from(bytes), keys);
        assert.equal(r.signature.status === 'valid', false);
      }),
      { numRuns: 100 },
    );
  });
});
