import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeMutf7, encodeMutf7 } from '../../../src/imap/wire/mutf7.js';

test('RFC 3501 5.1.3 examples and the & escape', () => {
  assert.equal(encodeMutf7('~peter/mail/台北/日本語'), '~peter/mail/&U,BTFw-/&ZeVnLIqe-');
  assert.equal(decodeMutf7('~peter/mail/&U,BTFw-/&ZeVnLIqe-'), '~peter/mail/台北/日本語');
  assert.equal(encodeMutf7('Tom & Jerry'), 'Tom &- Jerry');
  assert.equal(decodeMutf7('Tom &- Jerry'), 'Tom & Jerry');
  assert.equal(encodeMutf7('Entwürfe'), 'Entw&APw-rfe');
  assert.equal(encodeMutf7('😀'), '&2D3eAA-');
});

test('malformed modified UTF-7 is rejected with BAD', () => {
  for (const bad of ['&Jjo', '&Jjo!-', 'caf\u00e9', '&AGE-', '&A-']) {
    assert.throws(() => decodeMutf7(bad), (e: Error & { status?: string }) => e.status === 'BAD', bad);
  }
});

test('encode/decode round-trips any string', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (s) => {
      const enc = encodeMutf7(s);
      assert.match(enc, /^[\x20-\x7e]*$/);
      assert.equal(decodeMutf7(enc), s);
    }),
    { numRuns: 500 },
  );
});
