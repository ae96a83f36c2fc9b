import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { streamContains } from '../../../src/imap/message/search-content.js';

/** `bytes` cut at the given offsets. */
function chunked(bytes: Buffer, cuts: number[]): Readable {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let last = 0;
  for (const p of [...points, bytes.length]) {
    parts.push(bytes.subarray(last, p));
    last = p;
  }
  return Readable.from(parts.filter((p) => p.length > 0));
}

test('finds a needle across any chunking, case-insensitively, in UTF-8 and legacy charsets', async () => {
  const text = 'Grüße aus Köln — the CAFÉ opens at noon. Ünïcödé everywhere.';
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(200), { maxLength: 6 }), async (cuts) => {
      const utf8 = Buffer.from(text, 'utf8');
      assert.equal(await streamContains(chunked(utf8, cuts), 'utf-8', 'café OPENS'), true);
      assert.equal(await streamContains(chunked(utf8, cuts), 'UTF-8', 'köln — the'), true);
      assert.equal(await streamContains(chunked(utf8, cuts), 'utf-8', 'cafe'), false);
      const latin = iconv.encode('Le café est prêt', 'iso-8859-1');
      assert.equal(await streamContains(chunked(latin, cuts), 'iso-8859-1', 'CAFÉ EST PRÊT'), true);
    }),
    { numRuns: 200 },
  );
});

test('unknown charsets are read as UTF-8; the empty needle matches', async () => {
  assert.equal(await streamContains(Readable.from([Buffer.from('naïve')]), 'x-unknown', 'NAÏVE'), true);
  assert.equal(await streamContains(Readable.from([]), undefined, ''), true);
  assert.equal(await streamContains(Readable.from([]), undefined, 'x'), false);
});

test('stops reading at the first match', async () => {
  let pulled = 0;
  const source = Readable.from(
    (function* () {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield Buffer.from(i === 3 ? 'needle' : 'hay '.repeat(1000));
      }
    })(),
  );
  assert.equal(await streamContains(source, 'us-ascii', 'NEEDLE'), true);
  assert.ok(pulled < 50, `pulled ${pulled} chunks`);
});
