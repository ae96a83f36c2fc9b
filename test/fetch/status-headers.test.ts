import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyStatusHeaders, removeHeaderFields } from '../../src/fetch/status-headers.js';

test('spoofed status headers (also folded ones) are removed, everything else stays byte-exact', () => {
  const raw = Buffer.from(
    'From: a@b\r\nX-Sealmail-Signature: valid;\r\n fpr=FAKE\r\nSubject: hi\r\nx-sealmail-encryption: decrypted\r\n\r\nX-Sealmail-Signature: in body stays\r\n',
  );
  const out = applyStatusHeaders(raw, { encryption: 'none', signature: 'none' }).toString();
  assert.equal(
    out,
    'X-Sealmail-Encryption: none\r\nX-Sealmail-Signature: none\r\nFrom: a@b\r\nSubject: hi\r\n\r\nX-Sealmail-Signature: in body stays\r\n',
  );
});

test('bare-LF messages keep their line ends; a message without a body is handled', () => {
  const out = applyStatusHeaders(Buffer.from('Subject: x\nX-Sealmail-Encryption: y\n'), { encryption: 'decrypted', signature: 'valid; fpr=AB' });
  assert.equal(out.toString(), 'X-Sealmail-Encryption: decrypted\nX-Sealmail-Signature: valid; fpr=AB\nSubject: x\n');
  assert.equal(removeHeaderFields(Buffer.from('A: 1\r\nB: 2'), ['b']).toString(), 'A: 1\r\n');
});
