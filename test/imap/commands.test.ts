// Exact protocol checks of the mailbox-level commands over a raw TCP connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, RawConnection, USER, PASSWORD, type Harness } from './harness.js';

const MESSAGE = 'Subject: t\r\n\r\nbody\r\n';

async function withSession(fn: (raw: RawConnection, h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness();
  const raw = await RawConnection.open(h.server.port);
  try {
    await fn(raw, h);
  } finally {
    raw.close();
    await h.close();
  }
}

test('state checks, unknown commands, NOOP, ID, NAMESPACE, LOGOUT', () =>
  withSession(async (raw) => {
    assert.match(await raw.command('a1', 'SELECT INBOX'), /^a1 BAD .*notAuthenticated/m);
    assert.match(await raw.command('a2', 'FROBNICATE'), /^a2 BAD Unknown command/m);
    assert.match(await raw.command('a3', 'NOOP'), /^a3 OK/m);
    const id = await raw.command('a4', 'ID ("name" "test" "version" "1")');
    assert.match(id, /^\* ID \("name" "sealmail"/m);
    await raw.login();
    assert.match(await raw.command('a5', 'NAMESPACE'), /^\* NAMESPACE \(\("" "\/"\)\) NIL NIL\r\n/m);
    const bye = await raw.command('a6', 'LOGOUT');
    assert.match(bye, /^\* BYE .*\r\na6 OK/m);
    await raw.readUntil(/$/);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(raw.closed);
  }));

test('AUTHENTICATE PLAIN with SASL-IR and with a continuation; cancellation', () =>
  withSession(async (raw, h) => {
    const b64 = Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64');
    raw.write('p1 AUTHENTICATE PLAIN\r\n');
    await raw.readUntil(/^\+ \r\n/m);
    raw.write('*\r\n');
    assert.match(await raw.readUntil(/^p1 .*\r\n/m), /p1 BAD/);
    raw.write('p2 AUTHENTICATE PLAIN\r\n');
    await raw.readUntil(/^\+ \r\n/m);
    raw.write(b64 + '\r\n');
    assert.match(await raw.readUntil(/^p2 .*\r\n/m), /p2 OK \[CAPABILITY IMAP4rev1 /);
    const other = await RawConnection.open(h.server.port);
    assert.match(await other.command('p3', `AUTHENTICATE PLAIN ${b64}`), /p3 OK/);
    assert.match(await other.command('p4', `AUTHENTICATE PLAIN ${Buffer.from('\0x\0y').toString('base64')}`), /p4 BAD .*not allowed/);
    other.close();
  }));

test('LIST variants: "" "" delimiter, % levels, LIST-EXTENDED SUBSCRIBED/SPECIAL-USE, LSUB', () =>
  withSession(async (raw) => {
    await raw.login();
    assert.match(await raw.command('l1', 'LIST "" ""'), /^\* LIST \(\\Noselect\) "\/" ""\r\n/m);
    await raw.command('c1', 'CREATE a/b/c');
    await raw.command('c2', 'CREATE "Spam box" (USE (\\Junk))');
    // The store creates parents; deleting a/b leaves it as an implied parent of a/b/c.
    assert.match(await raw.command('d1', 'DELETE a/b'), /d1 OK/);
    const top = await raw.command('l2', 'LIST "" %');
    assert.match(top, /^\* LIST \(\\HasChildren\) "\/" "a"\r\n/m);
    assert.match(top, /^\* LIST \(\\HasNoChildren\) "\/" "INBOX"\r\n\* LIST/, 'INBOX first');
    assert.doesNotMatch(top, /"a\/b"/);
    assert.match(await raw.command('l3', 'LIST "a/" %'), /^\* LIST \(\\NonExistent \\Noselect \\HasChildren\) "\/" "a\/b"\r\n/m);
    assert.match(await raw.command('l4', 'LIST "" "a/*"'), /"a\/b\/c"/);
    assert.match(await raw.command('l5', 'LIST "" "Spam*"'), /^\* LIST \(\\HasNoChildren \\Junk\) "\/" "Spam box"/m);
    await raw.command('s1', 'SUBSCRIBE a/b/c');
    const subs = await raw.command('l6', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "*" RETURN (CHILDREN)');
    assert.match(subs, /"a\/b\/c"/);
    assert.match(subs, /\\Subscribed/);
    assert.match(subs, /"a\/b" \("CHILDINFO" \("SUBSCRIBED"\)\)/);
    const special = await raw.command('l7', 'LIST (SPECIAL-USE) "" "*"');
    assert.match(special, /"Spam box"/);
    assert.doesNotMatch(special, /"INBOX"/);
    await raw.command('s2', 'UNSUBSCRIBE "Spam box"');
    const lsub = await raw.command('l8', 'LSUB "" "*"');
    assert.match(lsub, /^\* LSUB \(\) "\/" "a\/b\/c"\r\n/m);
    assert.doesNotMatch(lsub, /"Spam box"/);
    assert.match(await raw.command('l9', 'LIST (BOGUS) "" "*"'), /l9 BAD/);
    assert.match(await raw.command('l10', 'LIST "" "&Jjo"'), /^l10 OK/m);
    assert.match(await raw.command('l11', 'CREATE "&Jjo"'), /l11 NO \[CANNOT\] .*UTF-7/);
  }));

test('STATUS items, RENAME of INBOX moves its messages, read-only EXAMINE', () =>
  withSession(async (raw, h) => {
    await raw.login();
    await h.store.append('INBOX', Buffer.from(MESSAGE), { flags: ['\\Seen'] });
    await h.store.append('INBOX', Buffer.from(MESSAGE + 'x'));
    const st = await raw.command('s1', 'STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE)');
    const m = /\* STATUS "INBOX" \(MESSAGES 2 RECENT 0 UIDNEXT 3 UIDVALIDITY (\d+) UNSEEN 1 HIGHESTMODSEQ (\d+) SIZE (\d+)\)/.exec(st);
    assert.ok(m, st);
    assert.equal(Number(m[3]), MESSAGE.length * 2 + 1);
    assert.match(await raw.command('s2', 'STATUS INBOX (BOGUS)'), /s2 BAD/);
    assert.match(await raw.command('s3', 'STATUS Missing (MESSAGES)'), /s3 NO \[NONEXISTENT\]/);
    const ex = await raw.command('e1', 'EXAMINE INBOX');
    assert.match(ex, /\[PERMANENTFLAGS \(\)\]/);
    assert.match(ex, /^\* 2 EXISTS/m);
    assert.match(ex, /^\* OK \[UNSEEN 2\]/m);
    assert.match(ex, /e1 OK \[READ-ONLY\]/);
    assert.match(await raw.command('e2', 'EXPUNGE'), /e2 OK Expunge ignored/);
    assert.equal((await h.store.status('INBOX')).messages, 2);
    assert.match(await raw.command('u1', 'UNSELECT'), /u1 OK/);
    assert.match(await raw.command('r1', 'RENAME INBOX Old'), /r1 OK/);
    assert.match(await raw.command('s4', 'STATUS Old (MESSAGES)'), /MESSAGES 2/);
    assert.match(await raw.command('s5', 'STATUS INBOX (MESSAGES)'), /MESSAGES 0/);
    assert.match(await raw.command('r2', 'RENAME Old INBOX'), /r2 NO \[ALREADYEXISTS\]/);
    assert.match(await raw.command('d1', 'DELETE INBOX'), /d1 NO/);
  }));

test('APPEND: sync literal, TRYCREATE, bad date, too big (NO [TOOBIG] without continuation)', async () => {
  const h = await startHarness({ maxLiteralSize: 1000 });
  const raw = await RawConnection.open(h.server.port);
  try {
    await raw.login();
    raw.write(`a1 APPEND INBOX (\\Flagged) "14-Jul-2023 02:44:25 -0700" {${MESSAGE.length}}\r\n`);
    await raw.readUntil(/^\+ .*\r\n/m);
    raw.write(MESSAGE + '\r\n');
    const ok = await raw.readUntil(/^a1 .*\r\n/m);
    assert.match(ok, /a1 OK \[APPENDUID \d+ 1\]/);
    const meta = (await h.store.messages('INBOX')).messages[0]!;
    assert.equal(meta.internalDate, Date.UTC(2023, 6, 14, 9, 44, 25));
    assert.deepEqual(meta.flags, ['\\Flagged']);
    raw.write(`a2 APPEND Nowhere {${MESSAGE.length}+}\r\n${MESSAGE}\r\n`);
    assert.match(await raw.readUntil(/^a2 .*\r\n/m), /a2 NO \[TRYCREATE\]/);
    // With a synchronizing literal the refusal comes instead of "+": nothing is uploaded.
    raw.write(`a2b APPEND Nowhere {${MESSAGE.length}}\r\n`);
    const refused = await raw.readUntil(/^a2b .*\r\n/m);
    assert.doesNotMatch(refused, /^\+/m);
    assert.match(refused, /a2b NO \[TRYCREATE\]/);
    raw.write('x0 FROB\r\n');
    assert.match(await raw.readUntil(/^x0 .*\r\n/m), /x0 BAD Unknown command/);
    // Before login an APPEND is refused without inviting the upload either.
    const anon = await RawConnection.open(h.server.port);
    anon.write(`a0 APPEND INBOX {${MESSAGE.length}}\r\n`);
    const early = await anon.readUntil(/^a0 .*\r\n/m);
    assert.doesNotMatch(early, /^\+/m);
    assert.match(early, /a0 BAD/);
    anon.close();
    raw.write(`a3 APPEND INBOX "31-Feb-2023 02:44:25 -0700" {${MESSAGE.length}+}\r\n${MESSAGE}\r\n`);
    assert.match(await raw.readUntil(/^a3 .*\r\n/m), /a3 BAD Invalid date-time/);
    raw.write('a4 APPEND INBOX {1001}\r\n');
    const big = await raw.readUntil(/^a4 .*\r\n/m);
    assert.doesNotMatch(big, /^\+/m);
    assert.match(big, /a4 NO \[TOOBIG\]/);
    assert.match(await raw.command('a5', 'NOOP'), /a5 OK/);
    assert.equal((await h.store.status('INBOX')).messages, 1);
  } finally {
    raw.close();
    await h.close();
  }
});

test('EXPUNGE announces removed \\Deleted messages; CLOSE expunges silently', () =>
  withSession(async (raw, h) => {
    await raw.login();
    for (let i = 0; i < 4; i++) await h.store.append('INBOX', Buffer.from(MESSAGE + i));
    await raw.command('s1', 'SELECT INBOX');
    await h.store.storeFlags('INBOX', [2, 3], 'add', ['\\Deleted']);
    const ex = await raw.command('e1', 'EXPUNGE');
    // 2 and 3 are \Deleted: "* 2 EXPUNGE" twice (sequence numbers shift after each).
    assert.deepEqual(ex.match(/^\* \d+ EXPUNGE/gm), ['* 3 EXPUNGE', '* 2 EXPUNGE']);
    assert.equal((await h.store.status('INBOX')).messages, 2);
    await h.store.storeFlags('INBOX', [4], 'add', ['\\Deleted']);
    const close = await raw.command('c1', 'CLOSE');
    assert.doesNotMatch(close, /EXPUNGE/);
    assert.match(close, /c1 OK/);
    assert.equal((await h.store.status('INBOX')).messages, 1);
    assert.match(await raw.command('c2', 'CLOSE'), /c2 BAD/);
  }));

test('ENABLE: only in authenticated state; SELECT (CONDSTORE) and HIGHESTMODSEQ', () =>
  withSession(async (raw, h) => {
    await raw.login();
    assert.match(await raw.command('n1', 'ENABLE FOOBAR'), /^\* ENABLED\r\nn1 OK/m);
    await h.store.append('INBOX', Buffer.from(MESSAGE));
    const sel = await raw.command('s1', 'SELECT INBOX (CONDSTORE)');
    const hms = /\[HIGHESTMODSEQ (\d+)\]/.exec(sel);
    assert.ok(hms && Number(hms[1]) >= 1);
    assert.match(await raw.command('n2', 'ENABLE CONDSTORE'), /n2 BAD/);
    assert.match(await raw.command('s2', 'SELECT INBOX (BOGUS)'), /s2 BAD/);
    assert.match(await raw.command('s3', 'SELECT Nope'), /s3 NO \[NONEXISTENT\]/);
    // A failed SELECT leaves no mailbox selected (RFC 3501 6.3.1).
    assert.match(await raw.command('c1', 'CHECK'), /c1 BAD/);
  }));
