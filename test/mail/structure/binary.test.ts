// BINARY[n] (RFC 3516): transfer encodings removed, size known up front,
// partials applied to the decoded bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { analyzeMessage } from '../../../src/mail/structure/index.js';
import { decodeBinarySection, UnknownCteError } from '../../../src/mail/structure/binary.js';

const reader = (raw: Buffer) => (start: number, end: number) => {
  // deliver in small pieces so the decoders see split input
  const pieces: Buffer[] = [];
  for (let p = start; p < end; p += 7) pieces.push(raw.subarray(p, Math.min(end, p + 7)));
  return Readable.from(pieces);
};

async function binary(raw: Buffer, path: number[], partial?: { start: number; length: number }) {
  const s = analyzeMessage(raw);
  const r = await decodeBinarySection(reader(raw), s, path, partial);
  const chunks: Buffer[] = [];
  for await (const c of r.stream) chunks.push(c as Buffer);
  const data = Buffer.concat(chunks);
  assert.equal(data.length, r.size);
  return data;
}

function mime(parts: Array<{ cte: string; body: string }>): Buffer {
  let raw = 'Content-Type: multipart/mixed; boundary=z\r\n\r\n';
  for (const p of parts) raw += `--z\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: ${p.cte}\r\n\r\n${p.body}\r\n`;
  return Buffer.from(raw + '--z--\r\n', 'latin1');
}

test('base64 parts decode to the original bytes, whatever the line length', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 4, max: 100 }), async (bytes, width) => {
      const data = Buffer.from(bytes);
      const b64 = (data.toString('base64').match(new RegExp(`.{1,${width}}`, 'g')) ?? []).join('\r\n');
      const raw = mime([{ cte: 'base64', body: b64 }]);
      assert.deepEqual(await binary(raw, [1]), data);
      const from = Math.floor(data.length / 3);
      assert.deepEqual(await binary(raw, [1], { start: from, length: 10 }), data.subarray(from, from + 10));
    }),
    { numRuns: 60, seed: 3 },
  );
});

test('quoted-printable: =XX, soft breaks, trailing whitespace, invalid escapes kept', async () => {
  const raw = mime([{ cte: 'Quoted-Printable', body: 'a=3Db  \r\nsoft=\r\nbreak =C3=A9=\r\n=ZZ=4' }]);
  assert.equal((await binary(raw, [1])).toString('latin1'), 'a=b\r\nsoftbreak \xc3\xa9=ZZ=4');
});

test('7bit/8bit/binary parts, multiparts and the whole message come back as stored', async () => {
  const raw = mime([{ cte: '8bit', body: 'caf\xe9' }]);
  assert.equal((await binary(raw, [1])).toString('latin1'), 'caf\xe9');
  assert.deepEqual(await binary(raw, []), raw);
  assert.equal((await binary(raw, [5])).length, 0, 'nonexistent part is empty');
});

test('an unknown transfer encoding is refused with UNKNOWN-CTE', async () => {
  const raw = mime([{ cte: 'x-uuencode', body: 'begin 644 x' }]);
  await assert.rejects(binary(raw, [1]), UnknownCteError);
});

test('base64 blocks concatenated after padding all decode (lenient, where Dovecot says [PARSE])', async () => {
  const block = Buffer.from('ABCDE').toString('base64'); // "QUJDREU=" (padded)
  const raw = mime([{ cte: 'base64', body: `${block}\r\n${block}\r\nQUI=` }]);
  assert.equal((await binary(raw, [1])).toString('latin1'), 'ABCDEABCDEAB');
});
