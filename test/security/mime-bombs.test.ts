// Hostile MIME through the real store and IMAP server: header bombs, a
// 100k-part message, multipart and message/rfc822 nesting thousands deep,
// plus random MIME trees. The analysis finishes quickly, BODYSTRUCTURE stays
// bounded in depth and size, and the original bytes are served byte-exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startHarness, USER, PASSWORD } from '../imap/harness.js';
import { RawImapClient, fetchItems } from '../support/raw-imap.js';
import { analyzeMessage } from '../../src/mail/structure/index.js';
import { MAX_DEPTH, MAX_PARTS } from '../../src/mail/structure/splitter.js';

/** Deepest parenthesis nesting of an IMAP value, outside quoted strings. */
function parenDepth(buf: Buffer): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0x22) {
      for (i++; i < buf.length && buf[i] !== 0x22; i++) if (buf[i] === 0x5c) i++;
    } else if (c === 0x28) max = Math.max(max, ++depth);
    else if (c === 0x29) depth--;
  }
  return max;
}

const HEAD = 'From: Mallory <m@example.org>\r\nTo: a@example.org\r\nSubject: bomb\r\n';
const multipartNest = (n: number): string =>
  HEAD + Array.from({ length: n }, (_, i) => `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n`).join('') + 'Content-Type: text/plain\r\n\r\nleaf\r\n';
const messageNest = (n: number): string => HEAD + 'Content-Type: message/rfc822\r\n\r\n'.repeat(n) + 'Subject: inner\r\n\r\nleaf\r\n';

const BOMBS: Array<[string, Buffer]> = [
  ['200k header fields', Buffer.from(HEAD + 'X-A: b\r\n'.repeat(200_000) + '\r\nbody\r\n')],
  ['one 2 MB header field', Buffer.from(HEAD + 'Received: ' + 'r'.repeat(2 * 1024 * 1024) + '\r\n\r\nbody\r\n')],
  ['a subject of 20k encoded words', Buffer.from('Subject: ' + '=?UTF-8?B?w6nDqcOp?= '.repeat(20_000) + '\r\nFrom: ' + 'x@y, '.repeat(20_000) + 'z@y\r\n\r\nbody\r\n')],
  ['100k parts', Buffer.from(HEAD + 'Content-Type: multipart/mixed; boundary=p\r\n\r\n' + '--p\r\nContent-Type: text/plain\r\n\r\nx\r\n'.repeat(100_000) + '--p--\r\n')],
  ['multipart nested 5000 deep', Buffer.from(multipartNest(5000))],
  ['message/rfc822 nested 5000 deep', Buffer.from(messageNest(5000))],
  ['100k-byte boundary', Buffer.from(HEAD + `Content-Type: multipart/mixed; boundary="${'q'.repeat(100_000)}"\r\n\r\n--${'q'.repeat(100_000)}\r\n\r\nx\r\n`)],
  ['50k Content-Type parameters', Buffer.from(HEAD + 'Content-Type: text/plain' + '; a=b'.repeat(50_000) + '\r\n\r\nx\r\n')],
];

test('MIME bombs over IMAP: quick analysis, bounded BODYSTRUCTURE, byte-exact bytes', { timeout: 120_000 }, async (t) => {
  const h = await startHarness({ maxLiteralSize: 20 * 1024 * 1024 });
  const c = await RawImapClient.connect('127.0.0.1', h.server.port);
  try {
    await c.login(USER, PASSWORD);
    for (const [name, raw] of BOMBS) {
      const t0 = performance.now();
      await c.append('INBOX', raw);
      const appendMs = performance.now() - t0;
      const direct0 = performance.now();
      analyzeMessage(raw);
      const analyzeMs = performance.now() - direct0;
      await c.command('SELECT INBOX');
      const f0 = performance.now();
      const r = await c.command('UID FETCH * (BODYSTRUCTURE ENVELOPE RFC822.SIZE BODY.PEEK[] BODY.PEEK[1])');
      const fetchMs = performance.now() - f0;
      assert.match(r.tagged, /^OK/, `${name}: ${r.tagged}`);
      const items = fetchItems(r.untagged.find((u) => u.includes(' FETCH '))!);
      const body = items.get('BODY[]')!.value;
      assert.ok(Buffer.isBuffer(body) && body.equals(raw), `${name}: BODY[] is byte-exact`);
      assert.equal(items.get('RFC822.SIZE')!.raw.toString(), String(raw.length), name);
      const bs = items.get('BODYSTRUCTURE')!.raw;
      // Each MIME level adds a few parentheses; the splitter stops descending at MAX_DEPTH levels.
      assert.ok(parenDepth(bs) <= 3 * MAX_DEPTH + 10, `${name}: BODYSTRUCTURE nested ${parenDepth(bs)} deep`);
      assert.ok(bs.length < 4 * 1024 * 1024, `${name}: BODYSTRUCTURE is ${bs.length} bytes`);
      for (const [what, ms] of [['append', appendMs], ['analysis', analyzeMs], ['fetch', fetchMs]] as const) {
        assert.ok(ms < 15_000, `${name}: ${what} took ${Math.round(ms)} ms`);
      }
      t.diagnostic(`${name} (${raw.length} bytes): analysis ${Math.round(analyzeMs)} ms, append ${Math.round(appendMs)} ms, fetch ${Math.round(fetchMs)} ms, BODYSTRUCTURE ${bs.length} bytes, depth ${parenDepth(bs)}`);
    }
    // A part beyond the part limit, a section 200 levels deep: answered, not an error.
    const deep = await c.command(`UID FETCH * (BODY.PEEK[${Array.from({ length: 200 }, () => '1').join('.')}] BODY.PEEK[${MAX_PARTS + 5}])`);
    assert.match(deep.tagged, /^(OK|BAD|NO)/);
    assert.doesNotMatch(deep.tagged, /SERVERBUG/);
    const search = await c.command('SEARCH TEXT leaf HEADER X-A b');
    assert.match(search.tagged, /^OK/);
  } finally {
    await c.close();
    await h.close();
  }
});

// ---- random MIME trees ----

type Tree = { kind: 'leaf'; text: string } | { kind: 'multi'; boundary: string; parts: Tree[]; close: boolean } | { kind: 'message'; inner: Tree };

const tree: fc.Arbitrary<Tree> = fc.letrec<{ t: Tree }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ maxLength: 30 }).map((text): Tree => ({ kind: 'leaf', text })),
    fc.record({ kind: fc.constant('multi' as const), boundary: fc.constantFrom('a', 'ab', 'b', 'x y', '--'), parts: fc.array(tie('t'), { maxLength: 4 }), close: fc.boolean() }),
    tie('t').map((inner): Tree => ({ kind: 'message', inner })),
  ),
})).t;

function render(t: Tree): string {
  if (t.kind === 'leaf') return `Content-Type: text/plain; charset=utf-8\r\n\r\n${t.text}`;
  if (t.kind === 'message') return `Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n${render(t.inner)}`;
  const parts = t.parts.map((p) => `\r\n--${t.boundary}\r\n${render(p)}`).join('');
  return `Content-Type: multipart/mixed; boundary="${t.boundary}"\r\n\r\npreamble${parts}${t.close ? `\r\n--${t.boundary}--\r\n` : ''}`;
}

test('random and mutated MIME trees: the analyzer never throws and its offsets stay inside the message', { timeout: 60_000 }, () => {
  let runs = 0;
  fc.assert(
    fc.property(tree, fc.array(fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 3 })), { maxLength: 3 }), (tr, edits) => {
      runs++;
      let raw = Buffer.from('From: a@b\r\n' + render(tr));
      for (const [at, bytes] of edits) {
        const i = at % (raw.length + 1);
        raw = Buffer.concat([raw.subarray(0, i), Buffer.from(bytes), raw.subarray(i + bytes.length)]);
      }
      const s = analyzeMessage(raw);
      assert.equal(s.size, raw.length);
      const check = (n: typeof s.root, depth: number): void => {
        assert.ok(0 <= n.headerStart && n.headerStart <= n.headerEnd && n.headerEnd <= n.bodyStart && n.bodyStart <= n.bodyEnd && n.bodyEnd <= raw.length, JSON.stringify(n).slice(0, 200));
        assert.ok(depth <= MAX_DEPTH + 1);
        for (const child of n.children ?? []) check(child, depth + 1);
        if (n.message) check(n.message, depth + 1);
      };
      check(s.root, 1);
    }),
    { numRuns: 2000, interruptAfterTimeLimit: 8000, markInterruptAsFailure: false },
  );
  assert.ok(runs >= 100, `${runs} runs`);
});
