// The byte-level MIME helpers behind PGP/MIME: 7-bit re-encoding must keep
// what a reader decodes identical (checked with mailparser, an independent
// parser), and multipart splitting must give exact part bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { is7bitSafe, make7bitSafe, splitMultipart, toCRLF } from '../../src/keymanager/mime.js';

const multipart = (text: string, html: string, attachment: Buffer): Buffer =>
  Buffer.concat([
    Buffer.from(
      'Content-Type: multipart/mixed; boundary="outer"\r\n\r\npreamble\r\n--outer\r\n' +
        'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n' +
        `--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}\r\n` +
        `--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html}\r\n--alt--\r\n` +
        '--outer\r\nContent-Type: application/octet-stream; name="a.bin"\r\nContent-Disposition: attachment; filename="a.bin"\r\nContent-Transfer-Encoding: binary\r\n\r\n',
      'utf8',
    ),
    attachment,
    Buffer.from('\r\n--outer--\r\nepilogue\r\n'),
  ]);

describe('MIME helpers', () => {
  it('re-encodes 8bit and binary leaves so readers decode the same content', async () => {
    const text = 'Grüße aus Köln – ☃\r\n.a line starting with a dot\r\nFrom the start\r\ntrailing space \r\n' + 'x'.repeat(1200);
    const html = '<p>naïve café</p>';
    const attachment = Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 0x80, 65]);
    const original = multipart(text, html, attachment);
    const safe = make7bitSafe(original);
    assert.ok(is7bitSafe(safe), 'every byte 7-bit, every line ≤ 998');
    const header = 'From: a@example.org\r\nMIME-Version: 1.0\r\n';
    const [a, b] = await Promise.all([simpleParser(Buffer.concat([Buffer.from(header), original])), simpleParser(Buffer.concat([Buffer.from(header), safe]))]);
    assert.equal(b.text, a.text);
    assert.equal(b.html, a.html);
    assert.deepEqual(b.attachments[0].content, attachment);
    assert.match(safe.toString(), /^preamble$/m);
    assert.match(safe.toString(), /^epilogue$/m);
  });

  it('leaves already safe entities byte-exact', () => {
    const e = Buffer.from('Content-Type: text/plain\r\n\r\nhello\r\n');
    assert.equal(make7bitSafe(e), e);
  });

  it('quoted-printable round-trips arbitrary text through mailparser', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 200 }), async (s) => {
        const body = toCRLF(Buffer.from(s.replace(/\r/g, ''), 'utf8'));
        const entity = Buffer.concat([Buffer.from('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'), body]);
        const safe = make7bitSafe(entity);
        assert.ok(is7bitSafe(safe));
        const parsed = await simpleParser(safe);
        const expected = (await simpleParser(entity)).text;
        assert.equal(parsed.text, expected);
      }),
      { numRuns: 60 },
    );
  });

  it('splits multipart bodies into exact parts (the CRLF before a delimiter belongs to it)', () => {
    const body = Buffer.from('pre\r\n--b\r\nA: 1\r\n\r\none\r\n\r\n--b \r\n\r\ntwo\r\n--bx\r\nstill two\r\n--b--\r\nepi');
    const parts = splitMultipart(body, 'b');
    assert.deepEqual(parts.map((p) => p.toString()), ['A: 1\r\n\r\none\r\n', '\r\ntwo\r\n--bx\r\nstill two']);
  });
});
