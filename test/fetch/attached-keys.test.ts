// Finding application/pgp-keys parts: transfer encodings, nesting, and
// hostile shapes (deep nesting, many parts) handled within fixed bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attachedKeyData } from '../../src/fetch/attached-keys.js';

const part = (ct: string, body: string, cte?: string): string =>
  `Content-Type: ${ct}\r\n${cte ? `Content-Transfer-Encoding: ${cte}\r\n` : ''}\r\n${body}`;

function multipart(boundary: string, parts: string[]): string {
  return `Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('')}--${boundary}--\r\n`;
}

test('keys in 7bit, base64 and quoted-printable parts, also nested; other parts ignored', () => {
  const armored = '-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nAAAA\r\n-----END PGP PUBLIC KEY BLOCK-----';
  const binary = Buffer.from([0x99, 0x01, 0x0d, 0xff, 0x00]);
  const raw = Buffer.from(
    'From: a@example.net\r\n' +
      multipart('outer', [
        part('text/plain', 'hello'),
        part('application/pgp-keys', armored),
        multipart('inner', [part('application/pgp-keys', binary.toString('base64'), 'base64'), part('application/octet-stream', 'x')]),
        part('application/pgp-keys; name=k.asc', 'key=3D1=\r\nrest', 'quoted-printable'),
      ]),
  );
  const found = attachedKeyData(raw);
  assert.equal(found.length, 3);
  assert.equal(found[0]!.toString(), armored);
  assert.ok(found[1]!.equals(binary));
  assert.equal(found[2]!.toString(), 'key=1rest');
});

test('hostile shapes: 500-deep nesting and 20,000 parts stay bounded', () => {
  let deep = part('application/pgp-keys', 'deepest');
  for (let i = 0; i < 500; i++) deep = multipart(`b${i}`, [deep]);
  const t0 = Date.now();
  assert.deepEqual(attachedKeyData(Buffer.from(`From: a@example.net\r\n${deep}`)), []);
  const many = multipart('m', Array.from({ length: 20_000 }, () => part('application/pgp-keys', 'k')));
  assert.equal(attachedKeyData(Buffer.from(`From: a@example.net\r\n${many}`)).length, 4, 'at most four keys taken');
  assert.ok(Date.now() - t0 < 20_000);
});

test('a message without a header/body separator or with a broken multipart yields nothing', () => {
  assert.deepEqual(attachedKeyData(Buffer.from('Content-Type: application/pgp-keys')), []);
  assert.deepEqual(attachedKeyData(Buffer.from('Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nno end')), []);
});
