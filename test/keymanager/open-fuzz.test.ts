// openMessage sees whatever the internet sends: damaged, truncated or hostile
// messages must be reported (failed / invalid), never thrown, and never
// reported as a valid signature.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
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
