// GnuPG interop both ways: what sealmail signs/encrypts, the real gpg
// verifies/decrypts; what gpg makes (PGP/MIME and inline), sealmail opens.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { KeyManager } from '../../src/keymanager/index.js';
import { parseContentType, parseHeader, splitEntity, splitMultipart, headerValue } from '../../src/keymanager/mime.js';
import { createGpg, type Gpg } from '../support/gpg.js';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.net';

const message = (subject: string, body: string): Buffer =>
  Buffer.from(
    `From: Alice <${ALICE}>\r\nTo: Bob <${BOB}>\r\nSubject: ${subject}\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n` +
      `Message-ID: <t1@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${body}`,
    'utf8',
  );

function parts(raw: Buffer): { fields: ReturnType<typeof parseHeader>; parts: Buffer[]; ct: ReturnType<typeof parseContentType> } {
  const { header, body } = splitEntity(raw);
  const fields = parseHeader(header);
  const ct = parseContentType(headerValue(fields, 'content-type'));
  return { fields, ct, parts: splitMultipart(body, ct.params.boundary) };
}

describe('PGP/MIME interop with GnuPG', () => {
  let gpg: Gpg;
  let km: KeyManager;
  let bobFpr: string;

  before(async () => {
    gpg = await createGpg();
    km = new KeyManager({ store: new MemoryDocumentStore(), address: ALICE, wkd: false });
    await km.ensureOwnKey();
    bobFpr = await gpg.generateKey(BOB);
    await km.importKeys(await gpg.exportPublic(BOB));
    await gpg.importKey(await km.exportPublicKey());
  });
  after(async () => gpg.close());

  it('sealmail signs+encrypts; gpg decrypts and verifies; Subject is protected', async () => {
    const bob = await km.lookup(BOB);
    assert.ok(bob.found);
    const out = await km.encrypt(message('Quarterly ☃ plans', 'Grüße, Bob!\r\n.leading dot\r\n'), [bob.key.armored]);
    assert.ok(out.every((b) => b < 0x80), 'outer message is 7-bit');
    const { fields, ct, parts: p } = parts(out);
    assert.equal(ct.mime, 'multipart/encrypted');
    assert.equal(ct.params.protocol, 'application/pgp-encrypted');
    assert.equal(headerValue(fields, 'subject'), '...');
    assert.equal(headerValue(fields, 'to'), `Bob <${BOB}>`);
    assert.match(p[0].toString(), /Version: 1/);
    const armored = splitEntity(p[1]).body.toString();
    const r = await gpg.run(['--status-fd', '2', '--decrypt'], armored);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\[GNUPG:\] GOODSIG/);
    assert.match(r.stderr, /\[GNUPG:\] DECRYPTION_OKAY/);
    const inner = r.stdout.toString('utf8');
    assert.match(inner, /protected-headers="v1"/);
    assert.match(inner, /Subject: Quarterly ☃ plans/);
    assert.match(inner, /Content-Transfer-Encoding: quoted-printable/);
    assert.match(inner, /Gr=C3=BC=C3=9Fe, Bob!/);
  });

  it('sealmail signs (multipart/signed, micalg = the real hash); gpg verifies the exact part bytes', async () => {
    const out = await km.sign(message('signed', 'plain text, with trailing space \r\nsecond line\r\n'));
    const { ct, parts: p } = parts(out);
    assert.equal(ct.mime, 'multipart/signed');
    assert.match(ct.params.micalg, /^pgp-sha(256|384|512)$/);
    assert.equal(ct.params.protocol, 'application/pgp-signature');
    const dir = fs.mkdtempSync(path.join(gpg.home, 'v-'));
    fs.writeFileSync(path.join(dir, 'data'), p[0]);
    fs.writeFileSync(path.join(dir, 'sig.asc'), splitEntity(p[1]).body);
    const good = await gpg.run(['--status-fd', '2', '--verify', path.join(dir, 'sig.asc'), path.join(dir, 'data')]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stderr, /GOODSIG/);
    // VALIDSIG's 8th field is the hash algorithm (RFC 9580 §9.5: 8 = SHA-256, 9 = SHA-384, 10 = SHA-512).
    const hashId = good.stderr.match(/VALIDSIG (\S+ ){7}(\d+)/)?.[2];
    assert.equal({ '8': 'pgp-sha256', '9': 'pgp-sha384', '10': 'pgp-sha512' }[hashId ?? ''], ct.params.micalg);
    // One changed byte must break it: the check is real.
    const tampered = Buffer.from(p[0]);
    tampered[tampered.length - 3] ^= 0x01;
    fs.writeFileSync(path.join(dir, 'data'), tampered);
    const bad = await gpg.run(['--status-fd', '2', '--verify', path.join(dir, 'sig.asc'), path.join(dir, 'data')]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /BADSIG/);
  });

  const innerEntity = 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHello from GnuPG, ünïcode.\r\n';
  const outerHead = `From: Bob <${BOB}>\r\nTo: ${ALICE}\r\nSubject: from gpg\r\nDate: Thu, 26 Nov 2026 11:00:00 +0000\r\nMIME-Version: 1.0\r\n`;

  it('opens a PGP/MIME message encrypted and signed by gpg', async () => {
    const armored = (await gpg.ok(['--armor', '--encrypt', '--sign', '-u', bobFpr, '-r', ALICE], innerEntity)).toString();
    const raw = Buffer.from(
      outerHead +
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b1"\r\n\r\n' +
        '--b1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n' +
        `--b1\r\nContent-Type: application/octet-stream\r\n\r\n${armored}\r\n--b1--\r\n`,
    );
    const opened = await km.openMessage(raw);
    assert.equal(opened.encryption, 'decrypted');
    assert.equal(opened.signature.status, 'valid');
    assert.equal(opened.signature.fingerprint, bobFpr);
    const text = opened.raw.toString('utf8');
    assert.match(text, /^From: Bob/);
    assert.match(text, /Subject: from gpg/);
    assert.match(text, /Hello from GnuPG, ünïcode\./);
    assert.doesNotMatch(text, /multipart\/encrypted/);
  });

  it('opens signed-then-encrypted layers (RFC 3156 §6.1) made with gpg', async () => {
    const sig = (await gpg.ok(['--armor', '--detach-sign', '-u', bobFpr], innerEntity)).toString();
    const signedEntity =
      'Content-Type: multipart/signed; micalg=pgp-sha512; protocol="application/pgp-signature"; boundary="s2"\r\n\r\n' +
      `--s2\r\n${innerEntity}\r\n--s2\r\nContent-Type: application/pgp-signature\r\n\r\n${sig}\r\n--s2--\r\n`;
    const armored = (await gpg.ok(['--armor', '--encrypt', '-r', ALICE], signedEntity)).toString();
    const raw = Buffer.from(
      outerHead +
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="e2"\r\n\r\n' +
        '--e2\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n' +
        `--e2\r\nContent-Type: application/octet-stream\r\n\r\n${armored}\r\n--e2--\r\n`,
    );
    const opened = await km.openMessage(raw);
    assert.equal(opened.encryption, 'decrypted');
    assert.equal(opened.signature.status, 'valid');
    assert.equal(opened.signature.fingerprint, bobFpr);
    assert.match(opened.raw.toString('utf8'), /Content-Type: multipart\/signed/);
  });

  it('verifies a gpg multipart/signed message and detects tampering', async () => {
    const sig = (await gpg.ok(['--armor', '--detach-sign', '-u', bobFpr], innerEntity)).toString();
    const build = (entity: string): Buffer =>
      Buffer.from(
        outerHead +
          'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="s1"\r\n\r\n' +
          `--s1\r\n${entity}\r\n--s1\r\nContent-Type: application/pgp-signature\r\n\r\n${sig}\r\n--s1--\r\n`,
      );
    // innerEntity ends with CRLF; the part is everything up to the CRLF before the delimiter.
    const good = await km.openMessage(build(innerEntity.replace(/\r\n$/, '')));
    assert.equal(good.signature.status, 'invalid', 'signature covers the final CRLF of the entity');
    const exact = await km.openMessage(build(innerEntity));
    assert.equal(exact.signature.status, 'valid');
    assert.equal(exact.encryption, 'none');
    const forged = await km.openMessage(build(innerEntity.replace('Hello', 'Jello')));
    assert.equal(forged.signature.status, 'invalid');
  });

  it('opens inline PGP and reports unknown signers and foreign ciphertext', async () => {
    const armored = (await gpg.ok(['--armor', '--encrypt', '--sign', '-u', bobFpr, '-r', ALICE], 'inline secret ✓\n')).toString();
    const raw = Buffer.from(outerHead + 'Content-Type: text/plain\r\n\r\n' + armored);
    const opened = await km.openMessage(raw);
    assert.equal(opened.encryption, 'decrypted');
    assert.equal(opened.signature.status, 'valid');
    assert.match(opened.raw.toString(), /inline secret =E2=9C=93/);

    const carol = await gpg.generateKey('carol@example.com');
    const fromCarol = (await gpg.ok(['--armor', '--encrypt', '--sign', '-u', carol, '-r', ALICE], 'who am I\n')).toString();
    const unknown = await km.openMessage(Buffer.from(outerHead.replace(`Bob <${BOB}>`, 'carol@example.com') + '\r\n' + fromCarol));
    assert.equal(unknown.encryption, 'decrypted');
    assert.equal(unknown.signature.status, 'unknown-key');

    const notForUs = (await gpg.ok(['--armor', '--encrypt', '-r', carol], 'private\n')).toString();
    const failed = await km.openMessage(Buffer.from(outerHead + '\r\n' + notForUs));
    assert.equal(failed.encryption, 'failed');
  });

  it('exchanges own keypairs with GnuPG both ways', async () => {
    // sealmail's private key works in gpg: gpg signs as alice (inline, both kinds), sealmail verifies.
    const other = await createGpg();
    try {
      await other.importKey(await km.exportPrivateKey());
      const listed = (await other.ok(['--with-colons', '--list-secret-keys', ALICE])).toString();
      assert.match(listed, new RegExp(`fpr:+${(await km.ownKey())!.fingerprint}:`));
      for (const mode of ['--sign', '--clearsign']) {
        const signed = (await other.ok(['--armor', mode, '-u', ALICE], 'signed by gpg with our key\n')).toString();
        const v = await km.openMessage(Buffer.from(`From: ${ALICE}\r\nTo: ${BOB}\r\n\r\n${signed}`));
        assert.equal(v.encryption, 'none', mode);
        assert.equal(v.signature.status, 'valid', mode);
      }
      const clear = (await other.ok(['--armor', '--clearsign', '-u', ALICE], 'pay 10 euros\n')).toString();
      const forged = await km.openMessage(Buffer.from(`From: ${ALICE}\r\nTo: ${BOB}\r\n\r\n${clear.replace('10 euros', '99 euros')}`));
      assert.equal(forged.signature.status, 'invalid');
      // A gpg keypair (passphrase-protected) becomes sealmail's own key; the old one is kept for old mail.
      const zed = 'zed@example.org';
      await other.ok(['--passphrase', 'pw 1', '--quick-generate-key', `Zed <${zed}>`, 'ed25519', 'sign', '1y']);
      const zfpr = (await other.ok(['--with-colons', '--list-keys', zed])).toString().match(/^fpr:+([0-9A-F]{40}):/m)![1];
      await other.ok(['--passphrase', 'pw 1', '--quick-add-key', zfpr, 'cv25519', 'encr', '1y']);
      const secret = (await other.ok(['--passphrase', 'pw 1', '--armor', '--export-secret-keys', zed])).toString();
      const zkm = new KeyManager({ store: new MemoryDocumentStore(), address: zed, wkd: false });
      const generated = await zkm.ensureOwnKey();
      await assert.rejects(zkm.importOwnKey(secret), /passphrase/);
      const own = await zkm.importOwnKey(secret, 'pw 1');
      assert.equal(own.fingerprint, zfpr);
      assert.deepEqual(own.previous.map((p) => p.fingerprint), [generated.fingerprint]);
      const self = await zkm.lookup(zed);
      assert.ok(self.found && self.key.fingerprint === zfpr, 'the imported key is the one we encrypt to ourselves with');
      const cipher = (await other.ok(['--armor', '--encrypt', '-r', zfpr], 'for zed\n')).toString();
      const opened = await zkm.openMessage(Buffer.from(`From: x@example.com\r\nTo: ${zed}\r\n\r\n${cipher}`));
      assert.equal(opened.encryption, 'decrypted');
      assert.match(opened.raw.toString(), /for zed/);
    } finally {
      await other.close();
    }
  });

  it('round-trips sealmail to sealmail with the protected Subject restored', async () => {
    const bobKm = new KeyManager({ store: new MemoryDocumentStore(), address: BOB, wkd: false });
    await bobKm.ensureOwnKey();
    await km.importKeys(await bobKm.exportPublicKey(), { level: 'provider', source: 'provider' });
    const key = await km.lookup(BOB);
    assert.ok(key.found);
    const sent = await km.encrypt(message('secret subject', 'body ✓\r\n'), [key.key.armored]);
    await bobKm.importKeys(await km.exportPublicKey());
    const opened = await bobKm.openMessage(sent);
    assert.equal(opened.encryption, 'decrypted');
    assert.equal(opened.signature.status, 'valid');
    const fields = parseHeader(splitEntity(opened.raw).header);
    assert.equal(headerValue(fields, 'subject'), 'secret subject');
    assert.equal(fields.filter((f) => f.key === 'subject').length, 1);
  });
});
