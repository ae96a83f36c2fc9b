// mbox and Maildir reading for `sealmail import`: message boundaries, mboxrd
// unescaping, byte-exact content (CRLF, 8-bit), From_ line dates, Maildir
// flags and order, and the idempotent run (a second run adds nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countMbox, fromLineDate, MboxSplitter, parseMbox, readMbox, NotMboxError } from '../../../src/mail/import/mbox.js';
import { listMaildir, maildirFlags } from '../../../src/mail/import/maildir.js';
import { headerDate, openImportSource, runImport, type ImportMessage, type ImportTarget } from '../../../src/mail/import/run.js';

/** What an mboxrd writer does: From_ line, ">"-quoting of /^>*From /, one empty line after each message. */
function mboxrd(messages: Buffer[], fromLine = 'From someone@example.org Thu Nov 26 10:00:00 2026'): Buffer {
  const parts: Buffer[] = [];
  for (const m of messages) {
    parts.push(Buffer.from(fromLine + '\n'));
    const quoted = m.toString('latin1').replace(/^(>*From )/gm, '>$1');
    parts.push(Buffer.from(quoted, 'latin1'), Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** A message's wire form: every line ending in CRLF (written independently of the product's conversion). */
function crlf(m: Buffer): Buffer {
  return Buffer.from(m.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

const PLAIN = Buffer.from('From: a@example.org\nSubject: one\n\nhello\n');
const QUOTED = Buffer.from('From: b@example.org\nSubject: two\n\nFrom here on\n>From there\n>>From everywhere\nnot From at start\n\nFrom after a blank line\n');
const CRLF_8BIT = Buffer.concat([Buffer.from('From: c@example.org\r\nSubject: three\r\nContent-Type: text/plain; charset=latin1\r\n\r\ncaf'), Buffer.from([0xe9]), Buffer.from('\r\n\r\n')]);

test('mbox: boundaries, mboxrd unescaping and bytes come back exactly, in any chunking', () => {
  const messages = [PLAIN, QUOTED, CRLF_8BIT];
  const file = mboxrd(messages);
  assert.deepEqual(parseMbox(file).map((m) => m.raw), messages);
  // Chunk boundaries anywhere (also inside "From " and inside CRLF) give the same messages.
  for (const size of [1, 2, 3, 7, 64]) {
    const s = new MboxSplitter();
    const out = [];
    for (let i = 0; i < file.length; i += size) out.push(...s.push(file.subarray(i, i + size)));
    out.push(...s.end());
    assert.deepEqual(out.map((m) => m.raw), messages, `chunks of ${size}`);
  }
  assert.equal(parseMbox(file)[0]!.fromLine, 'From someone@example.org Thu Nov 26 10:00:00 2026');
});

test('mbox: a "From " line inside a paragraph stays in its message; a last message without the closing empty line is kept whole', () => {
  const file = Buffer.from('From x Thu Nov 26 10:00:00 2026\nSubject: a\n\nline\nFrom inside a paragraph\nend\n\nFrom y Thu Nov 26 11:00:00 2026\nSubject: b\n\nlast line\n');
  const msgs = parseMbox(file);
  assert.equal(msgs.length, 2);
  assert.equal(msgs[0]!.raw.toString(), 'Subject: a\n\nline\nFrom inside a paragraph\nend\n');
  assert.equal(msgs[1]!.raw.toString(), 'Subject: b\n\nlast line\n');
  assert.throws(() => parseMbox(Buffer.from('Subject: not an mbox\n\nbody\n')), NotMboxError);
  assert.deepEqual(parseMbox(Buffer.alloc(0)), []);
});

test('mbox: streamed from a file, counted in a pass of its own', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-mbox-'));
  try {
    const many = Array.from({ length: 300 }, (_, i) => Buffer.from(`Subject: ${i}\n\n${'x'.repeat(i * 50)}\nFrom the body ${i}\n`));
    const path = join(dir, 'mail.mbox');
    writeFileSync(path, mboxrd(many));
    assert.equal(await countMbox(path), 300);
    const read: Buffer[] = [];
    for await (const m of readMbox(path)) read.push(m.raw);
    assert.deepEqual(read, many);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('From_ line and Date: header dates', () => {
  assert.equal(fromLineDate('From alice@example.org Thu Nov 26 10:00:00 2026'), Date.UTC(2026, 10, 26, 10, 0, 0));
  assert.equal(fromLineDate('From alice@example.org  Mon Jan  5 09:03:07 2015'), Date.UTC(2015, 0, 5, 9, 3, 7));
  assert.equal(fromLineDate('From MAILER-DAEMON Fri Jul  8 12:08:34 2011 +0200'), Date.UTC(2011, 6, 8, 10, 8, 34));
  assert.equal(fromLineDate('From someone'), null);
  assert.equal(headerDate(Buffer.from('Subject: x\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\n\r\nbody\r\nDate: no\r\n')), Date.UTC(2003, 6, 1, 8, 52, 37));
  assert.equal(headerDate(Buffer.from('Subject: no date\n\nDate: Tue, 1 Jul 2003 10:52:37 +0200\n')), null);
});

test('Maildir: flags from the info suffix, new/ without flags, mtime as internal date, oldest first', async () => {
  assert.deepEqual(maildirFlags('1700000000.M1P2.host:2,FRS'), ['\\Flagged', '\\Answered', '\\Seen']);
  assert.deepEqual(maildirFlags('1700000000.M1P2.host:2,DPTab'), ['\\Draft', '$Forwarded', '\\Deleted']);
  assert.deepEqual(maildirFlags('1700000000.M1P2.host!2,S'), ['\\Seen']);
  assert.deepEqual(maildirFlags('1700000000.M1P2.host'), []);
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-maildir-'));
  try {
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub));
    const files = [
      ['cur/2.host:2,S', 2000],
      ['new/3.host', 3000],
      ['cur/1.host:2,FR', 1000],
      ['tmp/4.host', 4000],
    ] as const;
    for (const [name, secs] of files) {
      writeFileSync(join(dir, name), `Subject: ${name}\n\nbody\n`);
      utimesSync(join(dir, name), secs, secs);
    }
    const list = await listMaildir(dir);
    assert.deepEqual(
      list.map((e) => [e.path.slice(dir.length + 1), e.flags, e.internalDate]),
      [
        ['cur/1.host:2,FR', ['\\Flagged', '\\Answered'], 1_000_000],
        ['cur/2.host:2,S', ['\\Seen'], 2_000_000],
        ['new/3.host', [], 3_000_000],
      ],
    );
    const source = await openImportSource(dir);
    assert.equal(source.kind, 'maildir');
    assert.equal(source.total, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** An in-memory target: a mailbox as a list of messages with delivery ids; the sizes of the batches it was given. */
function memoryTarget(): ImportTarget & { stored: Array<{ m: ImportMessage; id: string }>; reports: number; batches: number[] } {
  const byId = new Map<string, ImportMessage>();
  const t = {
    stored: [] as Array<{ m: ImportMessage; id: string }>,
    reports: 0,
    batches: [] as number[],
    async begin() {
      const counts = new Map<string, number>();
      const { createHash } = await import('node:crypto');
      for (const { m } of t.stored) {
        const h = createHash('sha256').update(m.raw).digest('hex');
        counts.set(h, (counts.get(h) ?? 0) + 1);
      }
      return counts;
    },
    async deliver(_mailbox: string, batch: Array<{ message: ImportMessage; deliveryId: string }>) {
      t.batches.push(batch.length);
      return batch.map(({ message: m, deliveryId: id }) => {
        if (byId.has(id)) return true;
        byId.set(id, m);
        t.stored.push({ m, id });
        return false;
      });
    },
    async report() {
      t.reports++;
    },
  };
  return t;
}

test('runImport: a second run adds nothing; two copies of the same bytes stay two; the source sets the dates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-run-'));
  try {
    const path = join(dir, 'in.mbox');
    writeFileSync(path, mboxrd([PLAIN, QUOTED, PLAIN]));
    const target = memoryTarget();
    const first = await runImport(target, [await openImportSource(path)], { mailbox: 'INBOX' });
    assert.deepEqual([first.imported, first.skipped, first.total, first.active], [3, 0, 3, false]);
    assert.deepEqual(target.stored.map((s) => s.m.raw), [PLAIN, QUOTED, PLAIN].map(crlf), 'stored with CRLF line ends');
    assert.ok(target.stored.every((s) => s.m.internalDate === Date.UTC(2026, 10, 26, 10, 0, 0)));
    assert.ok(target.reports >= 1, 'the end is reported');
    const second = await runImport(target, [await openImportSource(path)], { mailbox: 'INBOX' });
    assert.deepEqual([second.imported, second.skipped], [0, 3]);
    assert.equal(target.stored.length, 3);
    await assert.rejects(openImportSource(join(dir, 'missing')), /does not exist/);
    writeFileSync(join(dir, 'plain.txt'), 'hello\n');
    await assert.rejects(openImportSource(join(dir, 'plain.txt')), /neither an mbox file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runImport: batches of at most batchCount messages and batchBytes bytes (a larger message alone), in the source order; a failed batch stops the run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-run-'));
  try {
    const big = Buffer.from(`From: big@example.org\nSubject: big\n\n${'x'.repeat(5000)}\n`);
    const numbered = Array.from({ length: 7 }, (_, i) => Buffer.from(`From: n@example.org\nSubject: ${i}\n\nbody ${i}\n`));
    const messages = [...numbered.slice(0, 5), big, ...numbered.slice(5)];
    const path = join(dir, 'in.mbox');
    writeFileSync(path, mboxrd(messages));
    const target = memoryTarget();
    const seen: number[] = [];
    const opts = { mailbox: 'INBOX', batchCount: 3, batchBytes: 1000, onProgress: (p: { done: number }) => void seen.push(p.done) };
    const first = await runImport(target, [await openImportSource(path)], opts);
    assert.deepEqual([first.imported, first.skipped], [8, 0]);
    assert.deepEqual(target.batches, [3, 2, 1, 2], 'three, then two (the big one does not fit), the big one alone, the rest');
    assert.deepEqual(target.stored.map((s) => s.m.raw), messages.map(crlf), 'in the order of the source');
    assert.deepEqual(seen, [3, 5, 6, 8], 'progress after each batch');

    // Again with one message more: what is there is skipped without being sent, the new one goes.
    const extra = Buffer.from('From: e@example.org\nSubject: extra\n\nnew\n');
    writeFileSync(path, mboxrd([...messages, extra]));
    target.batches.length = 0;
    const second = await runImport(target, [await openImportSource(path)], { mailbox: 'INBOX', batchCount: 3 });
    assert.deepEqual([second.imported, second.skipped, second.done], [1, 8, 9]);
    assert.deepEqual(target.batches, [1]);

    // A target that fails: the run stops with its error, which the final report carries.
    const failing = memoryTarget();
    let last: { error?: string; active: boolean } | null = null;
    failing.deliver = async () => {
      throw new Error('disk full');
    };
    failing.report = async (p) => void (last = p);
    await assert.rejects(runImport(failing, [await openImportSource(path)], { mailbox: 'INBOX', batchCount: 3 }), /disk full/);
    assert.deepEqual(last, { ...last!, active: false, error: 'disk full' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runImport: bare LF becomes CRLF, nothing else changes; a mailbox imported before the conversion (LF stored) gets no second copy, nor does one imported after it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-run-'));
  try {
    const { createHash } = await import('node:crypto');
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const path = join(dir, 'in.mbox');
    writeFileSync(path, mboxrd([PLAIN, CRLF_8BIT, QUOTED, PLAIN]));

    // What the import stored before the conversion: the source bytes (LF) under "import:<sha256 of them>:<k>".
    const before = memoryTarget();
    const oldRule = [PLAIN, CRLF_8BIT, QUOTED, PLAIN].map((raw, i, all) => ({
      message: { raw, flags: [], internalDate: 0 },
      deliveryId: `import:${sha(raw)}:${all.slice(0, i).filter((m) => m.equals(raw)).length}`,
    }));
    await before.deliver('INBOX', oldRule);
    const rerun = await runImport(before, [await openImportSource(path)], { mailbox: 'INBOX' });
    assert.deepEqual([rerun.imported, rerun.skipped], [0, 4], 'the LF copies count as the same messages');
    assert.equal(before.stored.length, 4);
    // Even if the hashes did not match (a mailbox whose index lost them), the delivery ids are the old rule's: nothing doubles.
    const blind = memoryTarget();
    await blind.deliver('INBOX', oldRule);
    blind.begin = async () => new Map();
    const blindRun = await runImport(blind, [await openImportSource(path)], { mailbox: 'INBOX' });
    assert.deepEqual([blindRun.imported, blindRun.skipped], [0, 4]);

    // A fresh import: CRLF stored, the already-CRLF message untouched, the 8-bit byte kept; run again, nothing added.
    const fresh = memoryTarget();
    const first = await runImport(fresh, [await openImportSource(path)], { mailbox: 'INBOX' });
    assert.equal(first.imported, 4);
    assert.deepEqual(fresh.stored.map((s) => s.m.raw), [crlf(PLAIN), CRLF_8BIT, crlf(QUOTED), crlf(PLAIN)]);
    assert.ok(fresh.stored.every((s) => !/(^|[^\r])\n/.test(s.m.raw.toString('latin1'))), 'no bare LF left');
    assert.deepEqual(fresh.stored.map((s) => s.id), oldRule.map((d) => d.deliveryId), 'delivery ids from the source bytes, as before');
    fresh.batches.length = 0;
    const again = await runImport(fresh, [await openImportSource(path)], { mailbox: 'INBOX' });
    assert.deepEqual([again.imported, again.skipped], [0, 4]);
    assert.deepEqual(fresh.batches, [], 'recognised by the stored (CRLF) hashes: nothing is sent again');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
