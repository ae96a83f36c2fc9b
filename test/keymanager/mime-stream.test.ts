// The streaming MIME helpers give the same bytes as the in-memory reference
// (mime.ts toCRLF, splitEntity, make7bitSafe), whatever the chunking of the
// input: random entities (fast-check), nested multiparts, lines far longer
// than the slice size, and messages without a blank line; hostile nesting
// stays cheap, and a consumer that stops reading stops the walk.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { is7bitSafe, make7bitSafe, parseHeader, splitEntity, toCRLF } from '../../src/keymanager/mime.js';
import { collect, crlfStream, planSevenBit, sevenBitStream, splitHead } from '../../src/keymanager/mime-stream.js';
import { MAX_NESTING } from '../../src/keymanager/mime-seven-bit.js';

/** `buf` cut at the given offsets, as a stream. */
async function* chunked(buf: Buffer, cuts: number[]): AsyncGenerator<Buffer> {
  let from = 0;
  for (const c of [...new Set(cuts.map((x) => x % (buf.length + 1)))].sort((a, b) => a - b)) {
    yield buf.subarray(from, c);
    from = c;
  }
  yield buf.subarray(from);
}

async function streamedSevenBit(entity: Buffer, cuts: number[]): Promise<Buffer> {
  const { header, body } = await splitHead(crlfStream(chunked(entity, cuts)));
  const fields = parseHeader(header);
  const reopen = async function* (): AsyncGenerator<Buffer> {
    yield* (await splitHead(crlfStream(chunked(entity, cuts)))).body;
  };
  const plan = await planSevenBit(fields, body);
  return collect(sevenBitStream(fields, reopen(), plan));
}

const multipart = (text: string, attachment: Buffer, outerPreamble = 'preamble\r\n'): Buffer =>
  Buffer.concat([
    Buffer.from(
      `Content-Type: multipart/mixed; boundary="outer"\r\n\r\n${outerPreamble}--outer\r\n` +
        'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n' +
        `--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}\r\n` +
        `--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>naïve</p>\r\n--alt--\r\n` +
        '--outer\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nkept as is\r\n' +
        '--outer\r\nContent-Type: application/octet-stream; name="a.bin"\r\nContent-Transfer-Encoding: binary\r\n\r\n',
      'utf8',
    ),
    attachment,
    Buffer.from('\r\n--outer--\r\nepilogue\r\n'),
  ]);

describe('streaming MIME helpers', () => {
  it('crlfStream and splitHead match toCRLF and splitEntity for any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), async (bytes, cuts, withHead) => {
        const raw = Buffer.concat([Buffer.from(withHead ? 'A: 1\nB: 2\r\r\n' : ''), Buffer.from(bytes.map((b) => (b % 7 === 0 ? 10 : b % 11 === 0 ? 13 : b)))]);
        const canonical = toCRLF(raw);
        assert.deepEqual(await collect(crlfStream(chunked(raw, cuts))), canonical);
        const { header, body } = await splitHead(crlfStream(chunked(raw, cuts)));
        const ref = splitEntity(canonical);
        assert.deepEqual(header, ref.header);
        assert.deepEqual(await collect(body), ref.body);
      }),
      { numRuns: 300 },
    );
  });

  it('re-encodes exactly as make7bitSafe: nested multiparts, message/rfc822 kept, binary leaves, long lines', async () => {
    const text = 'Grüße aus Köln ☃\r\n.a line starting with a dot\r\nFrom the start\r\ntrailing space \r\n' + 'x'.repeat(1200);
    const long = Buffer.alloc(300 * 1024, 0x61);
    long[150 * 1024] = 0xe9;
    const cases = [
      multipart(text, Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 0x80, 65])),
      multipart('plain ascii', Buffer.from('ascii only\r\n')),
      multipart(`${'ü'.repeat(100_000)} \r\nend`, long, ''),
      Buffer.from('Content-Type: text/plain; charset=utf-8\r\n\r\nsingle leaf, 8-bit: é\r\n'),
      Buffer.concat([Buffer.from('Content-Type: text/plain\r\n\r\n'), long]),
      Buffer.from('Content-Type: text/plain\r\n\r\nhello\r\n'),
    ];
    for (const [i, entity] of cases.entries()) {
      const expected = make7bitSafe(entity);
      for (const cuts of [[], [1, 7, 100, 5000, 70_000], [65_535, 65_536, 65_537, 131_072]]) {
        const got = await streamedSevenBit(entity, cuts);
        assert.ok(got.equals(expected), `case ${i}, cuts ${cuts.join(',')}: ${got.length} vs ${expected.length} bytes`);
        assert.ok(is7bitSafe(got));
      }
    }
  });

  it('re-encodes random text leaves as make7bitSafe does', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.array(fc.nat(), { maxLength: 6 }), fc.constantFrom('text/plain', 'application/x-data'), async (s, cuts, type) => {
        const body = toCRLF(Buffer.from(s.replace(/\r/g, ''), 'utf8'));
        const entity = Buffer.concat([Buffer.from(`Content-Type: ${type}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`), body]);
        assert.deepEqual(await streamedSevenBit(entity, cuts), make7bitSafe(entity));
      }),
      { numRuns: 200 },
    );
  });
  it('walks nesting up to MAX_NESTING levels and passes a deeper multipart unchanged, in time linear in the depth', async () => {
    // Level i (the root is level 1) is multipart b<i-1>: an 8-bit text leaf, then the next level.
    const nested = (depth: number): Buffer => {
      const open: string[] = [];
      const close: string[] = [];
      for (let i = 0; i < depth; i++) {
        open.push(`Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nné ${i}\r\n--b${i}\r\n`);
        close.push(`\r\n--b${i}--\r\n`);
      }
      return Buffer.from(open.join('') + 'Content-Type: text/plain\r\n\r\nleaf é' + close.reverse().join(''), 'utf8');
    };
    const timings: string[] = [];
    for (const depth of [MAX_NESTING + 20, 3000]) {
      const entity = nested(depth);
      const t0 = performance.now();
      const got = await streamedSevenBit(entity, [1000, 70_000]);
      timings.push(`${depth} deep: ${Math.round(performance.now() - t0)} ms`);
      assert.ok(got.equals(make7bitSafe(entity)), `${depth} deep: as make7bitSafe`);
      const text = got.toString('latin1');
      // Leaves of levels 1..99 are re-encoded; the multipart at level 100 (b99) and all inside it are kept byte for byte.
      assert.equal(text.match(/Content-Transfer-Encoding: quoted-printable/g)?.length, MAX_NESTING - 1);
      assert.ok(text.includes(`n=C3=A9 ${MAX_NESTING - 2}\r\n`));
      assert.ok(got.includes(Buffer.from(`né ${MAX_NESTING - 1}\r\n`, 'utf8')));
      assert.ok(got.includes(Buffer.from('leaf é', 'utf8')));
    }
    // 3000 levels took minutes when every level was an async generator of its own.
    console.log(`${timings.join(', ')}`);
  });

  it('a consumer that stops reading stops the walk and closes the source', async () => {
    let pulled = 0;
    let closed = false;
    async function* source(): AsyncGenerator<Buffer> {
      try {
        for (let i = 0; i < 200; i++) {
          pulled++;
          yield Buffer.from(`${'ü'.repeat(30_000)}\r\n`, 'utf8');
        }
      } finally {
        closed = true;
      }
    }
    const fields = parseHeader(Buffer.from('Content-Type: text/plain; charset=utf-8\r\n'));
    const stream = sevenBitStream(fields, source(), ['quoted-printable']);
    const first = await stream.next();
    assert.ok(!first.done && first.value.length >= 64 * 1024);
    await stream.return(undefined);
    for (let i = 0; i < 500 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(closed, 'the source was closed');
    assert.ok(pulled < 20, `only what the first slices needed was read (${pulled} of 200 chunks)`);
  });

  it('an error in the walk reaches the consumer', async () => {
    const body = Buffer.from(`--b\r\nX-Big: ${'a'.repeat(1100 * 1024)}\r\n\r\nx\r\n--b--\r\n`);
    const fields = parseHeader(Buffer.from('Content-Type: multipart/mixed; boundary=b\r\n'));
    await assert.rejects(collect(sevenBitStream(fields, chunked(body, [5000]), [])), /header block is over/);
  });
});
