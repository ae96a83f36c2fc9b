// Byte-exactness and robustness of the structure analyzer: for every corpus
// message the offsets tile the message, boundaries sit exactly between parts,
// streaming in arbitrary chunks gives the same structure, and broken or
// hostile input never throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { analyzeMessage, analyzeStream } from '../../../src/mail/structure/index.js';
import { readSection, resolveSection } from '../../../src/mail/structure/sections.js';
import { MAX_DEPTH, MAX_PARTS } from '../../../src/mail/structure/splitter.js';
import type { MessageStructure, PartNode } from '../../../src/mail/structure/types.js';
import { makeCorpus } from '../../support/corpus.js';

const corpus = makeCorpus();

function* nodes(n: PartNode): Generator<PartNode> {
  yield n;
  for (const c of n.children ?? []) yield* nodes(c);
  if (n.message) yield* nodes(n.message);
}

/** Structural invariants every analysis must satisfy, whatever the input. */
function checkInvariants(s: MessageStructure, raw: Buffer, name: string): void {
  assert.equal(s.size, raw.length, `${name}: size`);
  assert.equal(s.root.headerStart, 0, `${name}: root starts at 0`);
  assert.equal(s.root.bodyEnd, raw.length, `${name}: root ends at the end`);
  for (const n of nodes(s.root)) {
    const where = `${name} part "${n.path}"`;
    assert.ok(n.headerStart <= n.headerEnd, `${where}: header range`);
    assert.equal(n.headerEnd, n.bodyStart, `${where}: body follows header`);
    assert.ok(n.bodyStart <= n.bodyEnd && n.bodyEnd <= raw.length, `${where}: body range`);
    let prev = n.bodyStart;
    for (const c of n.children ?? []) {
      assert.ok(c.headerStart >= prev && c.bodyEnd <= n.bodyEnd, `${where}: child ${c.path} inside, in order`);
      prev = c.bodyEnd;
    }
    if (n.message) {
      assert.equal(n.message.headerStart, n.bodyStart, `${where}: message starts at the part body`);
      // (it may end a line break earlier: a header cut by a boundary gives it up, the part keeps it)
      assert.ok(n.message.bodyEnd <= n.bodyEnd && n.bodyEnd - n.message.bodyEnd <= 2, `${where}: message ends with the part`);
    }
    if (n.lines !== null) {
      const lf = raw.subarray(n.bodyStart, n.bodyEnd).toString('latin1').split('\n').length - 1;
      assert.equal(n.lines, lf, `${where}: lines = line breaks in the body`);
    }
  }
}

const reader = (raw: Buffer) => (start: number, end: number) => Readable.from([raw.subarray(start, end)]);

async function section(s: MessageStructure, raw: Buffer, spec: Parameters<typeof resolveSection>[1], partial?: { start: number; length: number }) {
  const r = await readSection(reader(raw), resolveSection(s, spec), partial);
  const chunks: Buffer[] = [];
  for await (const c of r.stream) chunks.push(c as Buffer);
  const data = Buffer.concat(chunks);
  assert.equal(data.length, r.size, 'size announced before streaming matches the bytes');
  return data;
}

test('every corpus message: BODY[] is the input, HEADER+TEXT tile it, offsets are consistent', async () => {
  assert.ok(corpus.length >= 40, 'corpus has at least 40 messages');
  for (const { name, raw } of corpus) {
    const s = analyzeMessage(raw);
    checkInvariants(s, raw, name);
    assert.deepEqual(await section(s, raw, { path: [] }), raw, `${name}: BODY[]`);
    const header = await section(s, raw, { path: [], part: 'HEADER' });
    const text = await section(s, raw, { path: [], part: 'TEXT' });
    assert.deepEqual(Buffer.concat([header, text]), raw, `${name}: HEADER + TEXT = message`);
  }
});

test('parts are separated exactly by their boundary lines (RFC 2046 5.1.1)', () => {
  for (const { name, raw } of corpus) {
    const s = analyzeMessage(raw);
    for (const n of nodes(s.root)) {
      const kids = n.children ?? [];
      const boundary = n.params['boundary'];
      for (let i = 0; i + 1 < kids.length; i++) {
        const gap = raw.subarray(kids[i]!.bodyEnd, kids[i + 1]!.headerStart).toString('latin1');
        assert.ok(gap.startsWith('\r\n--' + boundary) || gap.startsWith('\n--' + boundary) || gap.startsWith('--' + boundary), `${name} ${n.path}: gap ${JSON.stringify(gap.slice(0, 80))}`);
        assert.ok(gap.endsWith('\n') && gap.split('\n').length <= 3, `${name} ${n.path}: gap is one boundary line`);
      }
    }
  }
});

test('the part sections are the slices the offsets name', async () => {
  const { raw } = corpus.find((m) => m.name === 'rfc822-nested')!;
  const s = analyzeMessage(raw);
  const text = async (spec: Parameters<typeof resolveSection>[1]) => (await section(s, raw, spec)).toString('latin1');
  assert.equal(await text({ path: [1] }), 'see below');
  assert.equal(await text({ path: [1], part: 'MIME' }), 'Content-Type: text/plain\r\n\r\n');
  assert.match(await text({ path: [2], part: 'HEADER' }), /^From: Alice.*Subject: inner message\r\n.*\r\n\r\n$/s);
  assert.match(await text({ path: [2], part: 'TEXT' }), /^--in2\r\n.*--in2--\r\n$/s);
  assert.equal(await text({ path: [2, 1] }), 'inner plain');
  assert.equal(await text({ path: [2, 2], part: 'MIME' }), 'Content-Type: text/html\r\n\r\n');
  assert.equal(await text({ path: [2, 3] }), '', 'nonexistent part is empty');
  assert.equal(await text({ path: [1], part: 'HEADER' }), '', 'n.HEADER only for message/rfc822 parts');
  assert.equal(await text({ path: [2], part: 'HEADER.FIELDS', fields: ['subject', 'FROM'] }), 'From: Alice Example <alice@example.org>\r\nSubject: inner message\r\n\r\n');
  assert.equal(await text({ path: [], part: 'HEADER.FIELDS', fields: ['Nothing'] }), '\r\n');
  assert.equal(await text({ path: [1] }), 'see below');
  assert.equal((await section(s, raw, { path: [] }, { start: 6, length: 5 })).toString('latin1'), raw.subarray(6, 11).toString('latin1'));
  assert.equal((await section(s, raw, { path: [1] }, { start: 4, length: 100 })).toString('latin1'), 'below');
  assert.equal((await section(s, raw, { path: [1] }, { start: 400, length: 5 })).length, 0, 'partial past the end is empty');
  // a single-part message: BODY[1] is its body, BODY[1.MIME] its header
  const simple = corpus.find((m) => m.name === 'simple')!.raw;
  const ss = analyzeMessage(simple);
  assert.deepEqual(await section(ss, simple, { path: [1] }), await section(ss, simple, { path: [], part: 'TEXT' }));
  assert.deepEqual(await section(ss, simple, { path: [1], part: 'MIME' }), await section(ss, simple, { path: [], part: 'HEADER' }));
});

test('HEADER.FIELDS keeps folded lines, matches names case-insensitively, NOT is the complement', async () => {
  const raw = Buffer.from('Subject: a\r\n  folded\r\nX-A: 1\r\nx-a: 2\r\nTo: t@e.x\r\n\r\nbody\r\n');
  const s = analyzeMessage(raw);
  const only = await section(s, raw, { path: [], part: 'HEADER.FIELDS', fields: ['X-A', 'subject'] });
  assert.equal(only.toString(), 'Subject: a\r\n  folded\r\nX-A: 1\r\nx-a: 2\r\n\r\n');
  const not = await section(s, raw, { path: [], part: 'HEADER.FIELDS.NOT', fields: ['X-A', 'subject'] });
  assert.equal(not.toString(), 'To: t@e.x\r\n\r\n');
});

test('streaming in arbitrary chunks gives the same structure as one buffer', async () => {
  const sample = corpus.filter((m) => m.raw.length < 40_000);
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: sample.length - 1 }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 20 }), async (i, sizes) => {
      const { raw } = sample[i]!;
      const chunks: Buffer[] = [];
      for (let pos = 0, k = 0; pos < raw.length; k++) {
        const n = sizes[k % sizes.length]!;
        chunks.push(raw.subarray(pos, pos + n));
        pos += n;
      }
      assert.deepEqual(await analyzeStream(Readable.from(chunks)), analyzeMessage(raw));
    }),
    { numRuns: 150, seed: 4 },
  );
});

test('mangled messages never throw and keep the invariants', () => {
  const sample = corpus.filter((m) => m.raw.length < 20_000 && m.raw.length > 0);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: sample.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 40 }), fc.uint8Array({ maxLength: 12 })), { maxLength: 8 }),
      (i, edits) => {
        let raw = Buffer.from(sample[i]!.raw);
        for (const [at, del, ins] of edits) {
          const p = at % (raw.length + 1);
          raw = Buffer.concat([raw.subarray(0, p), Buffer.from(ins), raw.subarray(p + del)]);
        }
        checkInvariants(analyzeMessage(raw), raw, 'mangled');
      },
    ),
    { numRuns: 300, seed: 7 },
  );
});

test('random bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
      const raw = Buffer.from(bytes);
      checkInvariants(analyzeMessage(raw), raw, 'random');
    }),
    { numRuns: 300, seed: 11 },
  );
});

test('nesting deeper than the limit becomes an opaque leaf', () => {
  let raw = '';
  const depth = MAX_DEPTH + 20;
  for (let i = 0; i < depth; i++) raw += `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n`;
  raw += 'Content-Type: text/plain\r\n\r\nbottom\r\n';
  const s = analyzeMessage(Buffer.from(raw));
  let levels = 0;
  for (let n: PartNode | undefined = s.root; n; n = n.children?.[0]) levels++;
  assert.ok(levels <= MAX_DEPTH + 1, `tree depth ${levels}`);
  // message/rfc822 nesting too
  let msg = 'Subject: bottom\r\n\r\nbody\r\n';
  for (let i = 0; i < depth; i++) msg = `Subject: level ${i}\r\nContent-Type: message/rfc822\r\n\r\n` + msg;
  const m = analyzeMessage(Buffer.from(msg));
  checkInvariants(m, Buffer.from(msg), 'deep rfc822');
  assert.ok(m.imap.bodystructure.length > 0);
});

test('more parts than the limit: the rest stays in the multipart, nothing is lost', () => {
  let raw = 'Content-Type: multipart/mixed; boundary=p\r\n\r\n';
  for (let i = 0; i < MAX_PARTS + 50; i++) raw += `--p\r\n\r\n${i}\r\n`;
  raw += '--p--\r\n';
  const buf = Buffer.from(raw);
  const s = analyzeMessage(buf);
  assert.ok(s.root.children!.length < MAX_PARTS, `parts ${s.root.children!.length}`);
  checkInvariants(s, buf, 'many parts');
});

test('an absurdly long line streams in bounded pieces and counts as one line', async () => {
  const line = Buffer.alloc(3 * 1024 * 1024, 0x61);
  const raw = Buffer.concat([Buffer.from('Subject: long\r\n\r\n'), line, Buffer.from('\r\nend\r\n')]);
  const chunks: Buffer[] = [];
  for (let pos = 0; pos < raw.length; pos += 16 * 1024) chunks.push(raw.subarray(pos, pos + 16 * 1024));
  const s = await analyzeStream(Readable.from(chunks));
  assert.equal(s.root.lines, 2);
  assert.equal(s.size, raw.length);
  assert.match(s.imap.bodystructure, /^\("text" "plain" \("charset" "us-ascii"\) NIL NIL "7bit" \d+ 2 /);
});
