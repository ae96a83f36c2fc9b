// The RSA-4096 option (issue 6): an own key generated as RSA-4096 works with
// GnuPG both ways, and so does an RSA correspondent's key made by gpg.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { KeyManager } from '../../src/keymanager/index.js';
import { parseContentType, parseHeader, splitEntity, splitMultipart, headerValue } from '../../src/keymanager/mime.js';
import { createGpg, type Gpg } from '../support/gpg.js';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.net';
const raw = (from: string, to: string, body: string): Buffer =>
  Buffer.from(`From: ${from}\r\nTo: ${to}\r\nSubject: rsa\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}`);

describe('RSA-4096 own key with GnuPG', { timeout: 180_000 }, () => {
  let gpg: Gpg;
  let km: KeyManager;
  let bobFpr: string;

  before(async () => {
    gpg = await createGpg();
    km = new KeyManager({ store: new MemoryDocumentStore(), address: ALICE, wkd: false, algorithm: 'rsa4096' });
    await km.ensureOwnKey();
    bobFpr = await gpg.generateKey(BOB, 'rsa3072');
    await km.importKeys(await gpg.exportPublic(BOB));
    await gpg.importKey(await km.exportPublicKey());
  });
  after(async () => gpg.close());

  it('generates a 4096-bit RSA key that gpg lists as such', async () => {
    const colons = (await gpg.ok(['--with-colons', '--list-keys', ALICE])).toString();
    const pub = colons.split('\n').find((l) => l.startsWith('pub:'))?.split(':');
    assert.ok(pub, colons);
    assert.equal(pub[2], '4096', 'key length');
    assert.equal(pub[3], '1', 'algorithm 1 = RSA');
  });

  it('sealmail signs+encrypts to an RSA recipient; gpg decrypts and verifies the RSA signature', async () => {
    const bob = await km.lookup(BOB);
    assert.ok(bob.found);
    const out = await km.encrypt(raw(ALICE, BOB, 'to bob over RSA\r\n'), [bob.key.armored]);
    const { header, body } = splitEntity(out);
    const ct = parseContentType(headerValue(parseHeader(header), 'content-type'));
    assert.equal(ct.mime, 'multipart/encrypted');
    const armored = splitEntity(splitMultipart(body, ct.params.boundary)[1]).body.toString();
    const r = await gpg.run(['--status-fd', '2', '--decrypt'], armored);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\[GNUPG:\] GOODSIG/);
    assert.match(r.stderr, /\[GNUPG:\] DECRYPTION_OKAY/);
    assert.match(r.stdout.toString(), /to bob over RSA/);
  });

  it('gpg encrypts+signs to the RSA-4096 key; sealmail decrypts and verifies', async () => {
    const entity = 'Content-Type: text/plain; charset=utf-8\r\n\r\nfrom gpg to an RSA key\r\n';
    const armored = (await gpg.ok(['--armor', '--encrypt', '--sign', '-u', bobFpr, '-r', ALICE], entity)).toString();
    const message = Buffer.from(
      `From: ${BOB}\r\nTo: ${ALICE}\r\nSubject: rsa back\r\nMIME-Version: 1.0\r\n` +
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\r\n\r\n' +
        '--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n' +
        `--b\r\nContent-Type: application/octet-stream\r\n\r\n${armored}\r\n--b--\r\n`,
    );
    const opened = await km.openMessage(message);
    assert.equal(opened.encryption, 'decrypted');
    assert.equal(opened.signature.status, 'valid');
    assert.equal(opened.signature.fingerprint, bobFpr);
    assert.match(opened.raw.toString(), /from gpg to an RSA key/);
  });
});
