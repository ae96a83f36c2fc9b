// Hostile input against the real IMAP server over TCP: random and mutated
// command lines (literals of every kind, wrong sizes included), deep nesting in
// SEARCH and FETCH, huge sequence sets, oversized and unterminated literals.
// Every input ends in a tagged OK/NO/BAD or an untagged BYE, never a hang or
// a crash, never an internal error (NO [SERVERBUG]); all the while another,
// well-behaved session reads a message byte-exact without a single failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startHarness, RawConnection, USER, PASSWORD, type Harness } from '../imap/harness.js';
import { RawImapClient, fetchItems } from '../support/raw-imap.js';

const KEEP = 'Keep-7f3a91';
const KEPT_MESSAGE = Buffer.from('From: a@example.org\r\nSubject: kept \xe9\r\nMessage-ID: <k@x>\r\n\r\nbody line \xff\x00 with 8-bit bytes\r\n', 'latin1');
/** Each property stops after this long (fast-check interrupts it; runs done until then count). */
const PROPERTY_MS = 8000;

/** A session that keeps fetching the kept message and counts what went wrong. */
function startWellBehaved(port: number): { stop(): Promise<{ rounds: number; failures: string[] }> } {
  let running = true;
  const failures: string[] = [];
  let rounds = 0;
  const loop = (async () => {
    const c = await RawImapClient.connect('127.0.0.1', port);
    await c.login(USER, PASSWORD);
    const sel = await c.command(`SELECT "${KEEP}"`);
    if (!sel.tagged.startsWith('OK')) failures.push(`SELECT: ${sel.tagged}`);
    while (running) {
      const r = await c.command('UID FETCH 1 (BODY.PEEK[])');
      rounds++;
      const body = r.untagged[0] ? fetchItems(r.untagged[0]).get('BODY[]')?.value : undefined;
      if (!r.tagged.startsWith('OK') || !Buffer.isBuffer(body) || !body.equals(KEPT_MESSAGE)) failures.push(`round ${rounds}: ${r.tagged}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await c.close();
  })().catch((err: Error) => void failures.push(`session died: ${err.message}`));
  return {
    async stop() {
      running = false;
      await loop;
      return { rounds, failures };
    },
  };
}

async function setup(): Promise<Harness> {
  const h = await startHarness({ maxBadCommands: 1_000_000, maxLiteralSize: 1_000_000, failedLoginDelayMs: 1 });
  const c = await RawImapClient.connect('127.0.0.1', h.server.port);
  await c.login(USER, PASSWORD);
  await c.command(`CREATE "${KEEP}"`);
  await c.command('CREATE Fuzz');
  await c.append(KEEP, KEPT_MESSAGE);
  for (let i = 0; i < 3; i++) await c.append('INBOX', Buffer.from(`Subject: m${i}\r\nFrom: f${i}@example.org\r\n\r\nbody ${i}\r\n`));
  await c.close();
  return h;
}

/** Total bytes announced by literal markers: what a server may legally wait for. */
function announcedLiteralBytes(input: Buffer): number {
  let n = 0;
  for (const m of input.toString('latin1').matchAll(/\{(\d{1,12})\+?\}/g)) n += Number(m[1]);
  return n;
}

const END = /^(zz\d? (OK|NO|BAD)|\* BYE)[^\r\n]*\r\n/m;

/**
 * Sends `input` on a fresh connection (authenticated, INBOX selected unless `anonymous`), then a NOOP.
 * Returns the transcript up to the NOOP's answer or a BYE. Input may legally leave the server waiting for
 * announced literal bytes or IDLE's DONE: then those are supplied and a second NOOP must be answered.
 */
async function exchange(port: number, input: Buffer, anonymous = false): Promise<string> {
  const c = await RawConnection.open(port);
  try {
    if (!anonymous) {
      await c.login();
      await c.command('s', 'SELECT INBOX');
    }
    c.write(input);
    c.write('\r\nzz NOOP\r\n');
    try {
      return await c.readUntil(END, 600);
    } catch (err) {
      if (c.closed) throw err; // closed without BYE
    }
    const owed = announcedLiteralBytes(input);
    if (owed > 0) c.write(Buffer.alloc(Math.min(owed, 4_000_000), 0x78));
    c.write('\r\nDONE\r\n*\r\nzz2 NOOP\r\n');
    return await c.readUntil(/^(zz2 (OK|NO|BAD)|\* BYE)[^\r\n]*\r\n/m, 10_000);
  } finally {
    c.close();
  }
}

// ---- generators ----

const WORDS = [
  'INBOX', 'Fuzz', '1', '2', '*', '1:*', '*:1', '0', '4294967295', '4294967296', '1:4294967295', '2,1:3,*', 'ALL', 'FLAGS', 'UID',
  'BODY[]', 'BODY.PEEK[HEADER]', 'BODY[1.2.3]', 'BODY[HEADER.FIELDS (SUBJECT FROM)]', 'BINARY[1]', 'BODY[]<0.10>', 'BODYSTRUCTURE',
  'ENVELOPE', 'RFC822', 'RFC822.SIZE', 'INTERNALDATE', 'MODSEQ', 'CHANGEDSINCE', 'VANISHED', 'NOT', 'OR', 'SUBJECT', 'FROM', 'TEXT',
  'LARGER', 'SINCE', '1-Jan-2020', '"01-Jan-2020 00:00:00 +0000"', 'CHARSET', 'UTF-8', 'RETURN', 'MIN', 'MAX', 'COUNT', 'SAVE', '$',
  '+FLAGS', '-FLAGS.SILENT', '\\Seen', '\\Deleted', '(\\Seen \\Flagged)', 'NIL', '""', '"a\\"b"', '"%"', '"*"', 'MESSAGES', 'UIDNEXT',
  'UIDVALIDITY', 'UNSEEN', 'HIGHESTMODSEQ', 'SUBSCRIBED', 'SPECIAL-USE', 'CONDSTORE', 'QRESYNC', 'UTF8=ACCEPT', '&AOk-', '&Jjo',
];
const COMMANDS = [
  'NOOP', 'CAPABILITY', 'SELECT', 'EXAMINE', 'CREATE', 'DELETE', 'RENAME', 'SUBSCRIBE', 'UNSUBSCRIBE', 'LIST', 'LSUB', 'STATUS', 'APPEND',
  'CHECK', 'CLOSE', 'UNSELECT', 'EXPUNGE', 'SEARCH', 'FETCH', 'STORE', 'COPY', 'MOVE', 'UID', 'ENABLE', 'ID', 'NAMESPACE', 'IDLE',
  'LOGIN', 'AUTHENTICATE', 'STARTTLS', 'XYZZY', 'ESEARCH', 'GETQUOTAROOT',
];

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((n) => String.fromCharCode(n)), maxLength: 20 });
const anyByte = fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a).toString('latin1'));

const argument: fc.Arbitrary<string> = fc.letrec<{ arg: string }>((tie) => ({
  arg: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...WORDS),
    printable,
    printable.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`),
    // A literal with the right size (sync, non-sync, literal8), whose bytes may hold CRLF and NUL.
    fc.tuple(anyByte, fc.constantFrom('', '+'), fc.constantFrom('', '~')).map(([s, plus, tilde]) => `${tilde}{${s.length}${plus}}\r\n${s}`),
    fc.array(tie('arg'), { maxLength: 4 }).map((a) => `(${a.join(' ')})`),
  ),
})).arg;

const commandLine = fc
  .tuple(fc.constantFrom('f1', 'f1', '*', '+', ''), fc.option(fc.constantFrom('UID'), { nil: undefined }), fc.constantFrom(...COMMANDS), fc.array(argument, { maxLength: 6 }))
  .map(([tag, uid, cmd, args]) => [tag, uid, cmd, ...args].filter((x) => x !== undefined).join(' '));

const VALID = [
  'f1 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODYSTRUCTURE)',
  'f1 UID SEARCH RETURN (MIN COUNT) OR SUBJECT m1 NOT FROM f2 LARGER 3',
  'f1 UID STORE 1:* +FLAGS.SILENT (\\Flagged)',
  'f1 STATUS INBOX (MESSAGES UIDNEXT UNSEEN)',
  'f1 LIST (SUBSCRIBED) "" "*" RETURN (CHILDREN)',
  'f1 APPEND Fuzz (\\Seen) "01-Jan-2020 00:00:00 +0000" {12+}\r\nSubject: x\r\n',
  'f1 SEARCH CHARSET UTF-8 SUBJECT {2+}\r\n\xc3\xa9',
  'f1 COPY 1:2 Fuzz',
  'f1 UID MOVE 3 Fuzz',
  'f1 FETCH 1 (BODY[1.MIME] BINARY.PEEK[1]<0.5> RFC822.SIZE)',
];

const mutated = fc
  .tuple(fc.constantFrom(...VALID), fc.array(fc.tuple(fc.nat(), fc.constantFrom('delete', 'insert', 'replace', 'duplicate'), fc.uint8Array({ minLength: 1, maxLength: 4 })), { minLength: 1, maxLength: 5 }))
  .map(([line, edits]) => {
    let b = Buffer.from(line, 'latin1');
    for (const [at, kind, bytes] of edits) {
      const i = at % (b.length + 1);
      if (kind === 'delete') b = Buffer.concat([b.subarray(0, i), b.subarray(i + bytes.length)]);
      else if (kind === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from(bytes), b.subarray(i)]);
      else if (kind === 'replace') b = Buffer.concat([b.subarray(0, i), Buffer.from(bytes), b.subarray(i + bytes.length)]);
      else b = Buffer.concat([b.subarray(0, i), b.subarray(i, i + 8), b.subarray(i)]);
    }
    return b;
  });

function checkTranscript(transcript: string, problems: string[], input: Buffer | string): void {
  if (/SERVERBUG/.test(transcript) || /\n\s+at |Error:/.test(transcript)) problems.push(`${JSON.stringify(input.toString('latin1').slice(0, 200))} -> ${transcript.slice(0, 300)}`);
}

test('IMAP fuzz: random and mutated commands always get OK/NO/BAD or BYE; a parallel session is undisturbed', { timeout: 90_000 }, async (t) => {
  const h = await setup();
  const good = startWellBehaved(h.server.port);
  const problems: string[] = [];
  let runs = 0;
  const outcomes = { bye: 0, waited: 0 };
  try {
    for (const [name, arb] of [
      ['generated', commandLine.map((s) => Buffer.from(s, 'latin1'))],
      ['mutated', mutated],
    ] as const) {
      await fc.assert(
        fc.asyncProperty(arb, fc.boolean(), async (input, anonymous) => {
          runs++;
          const transcript = await exchange(h.server.port, input, anonymous && name === 'generated');
          if (/^\* BYE/m.test(transcript)) outcomes.bye++;
          if (/^zz2 /m.test(transcript)) outcomes.waited++;
          checkTranscript(transcript, problems, input);
        }),
        { numRuns: 400, interruptAfterTimeLimit: PROPERTY_MS, markInterruptAsFailure: false },
      );
    }
  } finally {
    const { rounds, failures } = await good.stop();
    await h.close();
    t.diagnostic(`${runs} fuzz inputs, ${outcomes.bye} ended in BYE, ${outcomes.waited} left the server waiting for announced bytes; well-behaved session: ${rounds} byte-exact fetches`);
    assert.deepEqual(failures, [], 'the well-behaved session saw failures');
    assert.ok(rounds > 10, `the well-behaved session ran ${rounds} rounds`);
  }
  assert.ok(runs >= 40, `only ${runs} fuzz inputs ran`);
  assert.deepEqual(problems, [], 'internal errors or leaked details');
});

test('IMAP: deep nesting in SEARCH and FETCH, huge sequence sets: answered quickly with OK/NO/BAD', { timeout: 60_000 }, async () => {
  const h = await setup();
  const c = await RawConnection.open(h.server.port);
  try {
    await c.login();
    await c.command('s', 'SELECT INBOX');
    const cases: string[] = [];
    for (const d of [10, 63, 65, 1000, 30_000]) {
      cases.push(`SEARCH ${'('.repeat(d)}ALL${')'.repeat(d)}`);
      cases.push(`SEARCH ${'NOT '.repeat(d)}ALL`);
      cases.push(`SEARCH ${'OR ALL '.repeat(d)}ALL`);
      cases.push(`SEARCH ${'('.repeat(d)}`); // unbalanced
      cases.push(`FETCH 1 ${'('.repeat(d)}FLAGS${')'.repeat(d)}`);
      cases.push(`FETCH 1 (BODY[HEADER.FIELDS ${'('.repeat(d)}SUBJECT${')'.repeat(d)}])`);
      cases.push(`STORE 1 +FLAGS ${'('.repeat(d)}\\Seen${')'.repeat(d)}`);
    }
    const manyRanges = Array.from({ length: 9000 }, (_, i) => `${i * 3 + 1}:${i * 3 + 2}`).join(',');
    for (const set of ['1:4294967295', '4294967295:1', '*:1', '0:*', '4294967296', '1:99999999999999999999', '1,' + '2,'.repeat(20_000) + '3', manyRanges, '1:*,'.repeat(5000) + '1']) {
      for (const cmd of ['FETCH %s (FLAGS)', 'UID FETCH %s (UID) (CHANGEDSINCE 1 VANISHED)', 'UID FETCH %s (FLAGS)', 'STORE %s +FLAGS.SILENT (\\Seen)', 'UID STORE %s -FLAGS (\\Seen)', 'SEARCH %s', 'UID SEARCH UID %s', 'COPY %s Fuzz', 'UID EXPUNGE %s']) {
        cases.push(cmd.replace('%s', set));
      }
    }
    let i = 0;
    for (const text of cases) {
      const tag = `n${i++}`;
      const t0 = performance.now();
      const r = await c.command(tag, text).catch((err: Error) => `FAILED ${err.message.slice(0, 300)}`);
      const ms = performance.now() - t0;
      assert.match(r, new RegExp(`^${tag} (OK|NO|BAD)`, 'm'), `${text.slice(0, 80)}... -> ${r.slice(-300)}`);
      assert.doesNotMatch(r, /SERVERBUG/, text.slice(0, 80));
      assert.ok(ms < 5000, `${text.slice(0, 80)}... took ${Math.round(ms)} ms`);
    }
    // The session is still usable and the mailbox intact.
    assert.match(await c.command('end', 'FETCH 1:* (UID)'), /end OK/);
  } finally {
    c.close();
    await h.close();
  }
});

test('IMAP: oversized and unterminated literals end in NO/BAD or BYE, and autologout frees the connection', { timeout: 60_000 }, async () => {
  const h = await setup();
  const good = startWellBehaved(h.server.port);
  try {
    const oversized: Array<[string, RegExp]> = [
      ['o1 APPEND Fuzz {99999999999+}\r\n', /^\* BYE /m],
      ['o1 APPEND Fuzz {99999999999}\r\n', /^o1 NO \[TOOBIG\]/m],
      ['o1 APPEND Fuzz {1000001}\r\n', /^o1 NO \[TOOBIG\]/m],
      ['o1 SEARCH TEXT {70000}\r\n', /^o1 BAD \[LIMIT\]/m],
      ['o1 SEARCH TEXT {99999999999999999999999}\r\n', /^(o1 (BAD|NO)|\* BYE)/m],
      ['o1 CREATE ~{5+}\r\nab\0cd\r\n', /^o1 (OK|NO|BAD)/m],
      ['o1 LOGIN {3+}\r\nabc {70000+}\r\n' + 'x'.repeat(70_000) + '\r\n', /^o1 BAD/m],
    ];
    for (const [input, expected] of oversized) {
      const c = await RawConnection.open(h.server.port);
      await c.login();
      c.write(input);
      const out = await c.readUntil(expected, 10_000);
      assert.match(out, expected);
      c.close();
    }
    // Unterminated: the server waits for announced bytes (as it must) until the idle timeout ends it.
    const short = await startHarness({ idleTimeoutMs: 800, preAuthTimeoutMs: 800 });
    try {
      const c = await RawConnection.open(short.server.port);
      await c.login();
      c.write('u1 CREATE {500+}\r\nonly a few bytes');
      const t0 = Date.now();
      await c.readUntil(/^\* BYE Autologout[^\r\n]*\r\n/m, 10_000);
      assert.ok(Date.now() - t0 < 8000);
      for (let i = 0; i < 100 && short.server.connections() > 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(short.server.connections(), 0, 'the connection was freed');
      const unauth = await RawConnection.open(short.server.port);
      unauth.write('u2 LOGIN {200+}\r\nhalf');
      await unauth.readUntil(/^\* BYE Autologout[^\r\n]*\r\n/m, 10_000);
    } finally {
      await short.close();
    }
  } finally {
    const { rounds, failures } = await good.stop();
    await h.close();
    assert.deepEqual(failures, []);
    assert.ok(rounds > 0);
  }
});
