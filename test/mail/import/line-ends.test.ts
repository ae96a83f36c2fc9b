// bareLfToCrlf: what `sealmail import` does to a message's line ends (a bare
// LF becomes CRLF; CRLF, a lone CR and every other byte stay).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bareLfToCrlf } from '../../../src/mail/import/line-ends.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

test('bare LF becomes CRLF; CRLF, lone CR, 8-bit bytes and a last line without a newline stay', () => {
  assert.equal(bareLfToCrlf(b('Subject: a\n\nbody\n')).toString('latin1'), 'Subject: a\r\n\r\nbody\r\n');
  assert.equal(bareLfToCrlf(b('\nstarts with LF')).toString('latin1'), '\r\nstarts with LF');
  assert.equal(bareLfToCrlf(b('mixed\r\nlines\nhere\r\n\n')).toString('latin1'), 'mixed\r\nlines\r\nhere\r\n\r\n');
  assert.equal(bareLfToCrlf(b('lone\rCR\r\rthen\n')).toString('latin1'), 'lone\rCR\r\rthen\r\n');
  assert.equal(bareLfToCrlf(b('caf\xe9\n\x00\xff')).toString('latin1'), 'caf\xe9\r\n\x00\xff');
  assert.equal(bareLfToCrlf(b('no newline at all')).toString('latin1'), 'no newline at all');
  const already = b('Subject: x\r\n\r\nok\r\n');
  assert.equal(bareLfToCrlf(already), already, 'a message without bare LF is the same buffer (no copy)');
  assert.equal(bareLfToCrlf(Buffer.alloc(0)).length, 0);
});

test('any bytes: no bare LF left, one CR added per bare LF, and removing the CRs before LF gives the same as for the input', () => {
  const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a.map((x) => (x % 4 === 0 ? 0x0a : x % 4 === 1 ? 0x0d : x))));
  fc.assert(
    fc.property(bytes, (input) => {
      const out = bareLfToCrlf(input);
      const s = out.toString('latin1');
      let expectedBare = 0;
      for (let i = 0; i < input.length; i++) if (input[i] === 0x0a && (i === 0 || input[i - 1] !== 0x0d)) expectedBare++;
      assert.equal(out.length, input.length + expectedBare);
      for (let i = 0; i < out.length; i++) if (out[i] === 0x0a) assert.equal(out[i - 1], 0x0d, `bare LF at ${i}`);
      assert.equal(s.replace(/\r\n/g, '\n'), input.toString('latin1').replace(/\r\n/g, '\n'));
    }),
    { numRuns: 500 },
  );
});
