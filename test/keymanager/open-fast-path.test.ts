// The cheap open path for incoming mail (issue 9, figure 5): plain mail with
// large attachments goes through without whole-message copies or byte loops,
// and nothing PGP-, Autocrypt- or key-bearing is skipped by the quick checks.
// Messages here are large (base64 attachments of ~150 KB) so the fast paths
// are the ones taken, and some come with bare LF line ends.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as openpgp from 'openpgp';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { KeyManager } from '../../src/keymanager/index.js';
import { isCRLF, splitMultipart, toCRLF } from '../../src/keymanager/mime.js';
import { readAnyKey } from '../../src/keymanager/keys.js';
import { attachedKeyData, importAttachedKeys } from '../../src/fetch/attached-keys.js';
import { applyStatusHeaders } from '../../src/fetch/status-headers.js';

const base64Lines = (bytes: number): string => (crypto.randomBytes(bytes).toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
const lf = (b: Buffer): Buffer => Buffer.from(b.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
/** The reference canonical form: every CRLF, bare CR or bare LF becomes CRLF. */
const canonicalRef = (s: string): string => s.replace(/\r\n|\r|\n/g, '\r\n');

/** A message with a text part and a large base64 attachment; extra header lines and parts can be added. */
function largeMail(opts: { headers?: string[]; parts?: string[]; from?: string } = {}): Buffer {
  const boundary = `b-${crypto.randomBytes(4).toString('hex')}`;
  const parts = [
    // Lines that start like a delimiter but are not one.
    `Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n--${boundary}X is not a delimiter\r\ntext --${boundary} mid-line\r\n`,
    `Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(110_000)}`,
    ...(opts.parts ?? []),
  ];
  return Buffer.from(
    `From: ${opts.from ?? 'Bob <bob@example.net>'}\r\nTo: alice@example.org\r\nDate: ${new Date().toUTCString()}\r\nSubject: big\r\n` +
      (opts.headers ?? []).map((h) => `${h}\r\n`).join('') +
      `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n` +
      parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('') +
      `--${boundary}--\r\n`,
    'latin1',
  );
}

async function pair(): Promise<{ alice: KeyManager; bob: KeyManager; alicePub: string; bobPub: string }> {
  const alice = new KeyManager({ store: new MemoryDocumentStore(), address: 'alice@example.org', wkd: false });
  const bob = new KeyManager({ store: new MemoryDocumentStore(), address: 'bob@example.net', wkd: false });
  const [a, b] = await Promise.all([alice.ensureOwnKey(), bob.ensureOwnKey()]);
  return { alice, bob, alicePub: a.publicArmored, bobPub: b.publicArmored };
}

describe('canonical form and multipart splitting', () => {
  it('toCRLF returns a canonical message itself, converts bare LF and bare CR exactly like the reference', () => {
    const big = largeMail();
    assert.ok(isCRLF(big));
    assert.equal(toCRLF(big), big, 'no copy when nothing changes');
    assert.equal(toCRLF(big), big, 'asked again: the same answer');
    const bare = lf(big);
    assert.ok(!isCRLF(bare));
    const converted = toCRLF(bare);
    assert.ok(converted.equals(big));
    assert.equal(toCRLF(bare), converted, 'asked again: the remembered conversion');
    assert.equal(toCRLF(converted), converted);
    const pieces = ['\r', '\n', '\r\n', '\n\r', 'a', 'bc', '\r\r\n', '\n\n'];
    for (let t = 0; t < 3000; t++) {
      let s = '';
      for (let i = t % 13; i > 0; i--) s += pieces[crypto.randomInt(pieces.length)];
      const out = toCRLF(Buffer.from(s, 'latin1')).toString('latin1');
      assert.equal(out, canonicalRef(s), JSON.stringify(s));
      assert.equal(isCRLF(Buffer.from(s, 'latin1')), out === s, JSON.stringify(s));
    }
    // Large and bare-CR: the conversion, not the memo, answers; then the memo does.
    const mixed = Buffer.from(`a\rb\nc\r\n${'x'.repeat(9000)}\r`, 'latin1');
    assert.equal(toCRLF(mixed).toString('latin1'), canonicalRef(mixed.toString('latin1')));
  });

  it('splitMultipart finds only whole delimiter lines, with trailing blanks, across large parts', () => {
    const body = Buffer.from(
      'preamble --b not here\r\n--b\r\nA\r\n--bX\r\n-- b\r\n x--b\r\n--b \t\r\n' + 'B'.repeat(70_000) + '\r\n--b--  \r\nepilogue\r\n--b\r\nignored',
    );
    const parts = splitMultipart(body, 'b').map((p) => p.toString('latin1'));
    assert.deepEqual(parts, ['A\r\n--bX\r\n-- b\r\n x--b', 'B'.repeat(70_000)]);
    assert.deepEqual(splitMultipart(Buffer.from('--b\r\n\r\n--b\r\nx'), 'b').map(String), ['', 'x'], 'no close delimiter: the last part runs to the end');
    assert.deepEqual(splitMultipart(Buffer.from('--b\r\nx\r\n--b'), 'b').map(String), ['x'], 'a delimiter ending the body opens nothing');
    assert.deepEqual(splitMultipart(Buffer.from('no delimiter at all'), 'b'), []);
  });
});

describe('opening incoming mail: fast for plain mail, nothing skipped', () => {
  it('plain unsigned mail with a large attachment comes back as the same buffer, status none', async () => {
    const { alice } = await pair();
    const raw = largeMail();
    const opened = await alice.openMessage(raw);
    assert.equal(opened.raw, raw);
    assert.equal(opened.encryption, 'none');
    assert.deepEqual(opened.signature, { status: 'none' });
    assert.deepEqual(attachedKeyData(raw), []);
    // A text body mentioning PGP without an armor line is plain too.
    const text = Buffer.from(`From: bob@example.net\r\nContent-Type: text/plain\r\n\r\nBEGIN PGP MESSAGE, said the note\r\n${'y'.repeat(20_000)}\r\n`);
    assert.equal((await alice.openMessage(text)).encryption, 'none');
  });

  it('PGP/MIME encrypted and signed mail is found and opened, also with bare LF line ends', async () => {
    const { alice, bob, alicePub, bobPub } = await pair();
    await alice.importKeys(bobPub);
    const inner = largeMail();
    const encrypted = await bob.encrypt(inner, [alicePub]);
    for (const raw of [encrypted, lf(encrypted)]) {
      const opened = await alice.openMessage(raw);
      assert.equal(opened.encryption, 'decrypted');
      assert.equal(opened.signature.status, 'valid');
      const innerBody = inner.subarray(inner.indexOf('\r\n\r\n') + 4);
      assert.ok(opened.raw.includes(innerBody), 'the attachment arrives byte-exact');
    }
  });

  it('inline PGP in a text body is found whatever its transfer encoding (7bit, base64, quoted-printable with =2D dashes)', async () => {
    const { alice, alicePub, bobPub, bob } = await pair();
    await alice.importKeys(bobPub);
    const signingKeys = await readAnyKey((await bob.ensureOwnKey()).privateArmored) as openpgp.PrivateKey;
    const armored = (await openpgp.encrypt({
      message: await openpgp.createMessage({ text: 'secret words\r\n' }),
      encryptionKeys: await readAnyKey(alicePub),
      signingKeys,
    })).replace(/\r?\n/g, '\r\n');
    const filler = `${'a long introduction line\r\n'.repeat(2000)}`;
    const text = filler + armored;
    // '=' itself is =3D in quoted-printable (RFC 2045 6.7): the armor's base64 padding would otherwise read as a soft line break.
    const qp = text.replace(/=/g, '=3D').replace(/-/g, '=2D');
    const bodies: Array<[string, string]> = [
      ['7bit', text],
      ['base64', Buffer.from(text).toString('base64').match(/.{1,76}/g)!.join('\r\n')],
      ['quoted-printable', qp],
    ];
    for (const [cte, body] of bodies) {
      const raw = Buffer.from(`From: bob@example.net\r\nTo: alice@example.org\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n${body}`);
      const opened = await alice.openMessage(raw);
      assert.equal(opened.encryption, 'decrypted', cte);
      assert.equal(opened.signature.status, 'valid', cte);
      assert.ok(opened.raw.toString().includes('secret words'), cte);
    }
  });

  it('an Autocrypt header on a large (bare-LF) message teaches the sender key', async () => {
    const { alice, bob, bobPub } = await pair();
    const header = (await bob.autocryptHeader()).replace(/\r\n$/, '');
    const opened = await alice.openMessage(lf(largeMail({ headers: [header] })));
    assert.equal(opened.encryption, 'none');
    const r = await alice.lookup('bob@example.net');
    assert.ok(r.found && r.key.level === 'autocrypt');
    assert.equal(r.found && r.key.fingerprint, (await readAnyKey(bobPub)).getFingerprint().toUpperCase());
  });

  it('an attached application/pgp-keys part after a large attachment is imported (any letter case, bare LF too)', async () => {
    const { bobPub } = await pair();
    for (const [ct, shape] of [['application/pgp-keys', (b: Buffer) => b], ['Application/PGP-Keys; name="bob.asc"', lf]] as const) {
      const fresh = new KeyManager({ store: new MemoryDocumentStore(), address: 'alice@example.org', wkd: false });
      await fresh.ensureOwnKey();
      const raw = shape(largeMail({ parts: [`Content-Type: ${ct}\r\n\r\n${bobPub.replace(/\r?\n/g, '\r\n')}`] }));
      const opened = await fresh.openMessage(raw);
      assert.equal(await importAttachedKeys(opened.raw, fresh.keyring, 'alice@example.org'), 1, ct);
      assert.ok((await fresh.lookup('bob@example.net')).found, ct);
    }
  });

  it('status headers: foreign ones removed, ours first, the rest byte-exact in one copy', () => {
    const raw = largeMail({ headers: ['X-Sealmail-Signature: valid; fpr=FORGED', 'X-Other: kept'] });
    const out = applyStatusHeaders(raw, { encryption: 'none', signature: 'none' });
    const expected = Buffer.concat([
      Buffer.from('X-Sealmail-Encryption: none\r\nX-Sealmail-Signature: none\r\n'),
      Buffer.from(raw.toString('latin1').replace('X-Sealmail-Signature: valid; fpr=FORGED\r\n', ''), 'latin1'),
    ]);
    assert.ok(out.equals(expected));
  });
});
