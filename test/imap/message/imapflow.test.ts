// Black-box tests of FETCH, SEARCH, STORE, COPY, MOVE and UID EXPUNGE over
// TCP with imapflow, against the real server and the in-memory MailStore.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImapFlow } from 'imapflow';
import { RawConnection, startHarness, type Harness } from '../harness.js';
import { LATIN1, MIXED, PLAIN } from './messages.js';

let h: Harness;
let c: ImapFlow;

before(async () => {
  h = await startHarness();
  await h.store.append('INBOX', PLAIN, { internalDate: Date.UTC(2024, 0, 5, 10) });
  await h.store.append('INBOX', MIXED, { internalDate: Date.UTC(2024, 0, 6, 11, 30), flags: ['\\Flagged', '$Work'] });
  await h.store.append('INBOX', LATIN1, { internalDate: Date.UTC(2024, 0, 1, 13), flags: ['\\Seen'] });
  c = await h.client();
});

after(async () => {
  await h.close();
});

test('FETCH: metadata, envelope, bodystructure, byte-exact source and sections', async () => {
  await c.mailboxOpen('INBOX');
  const all = await c.fetchAll('1:*', { uid: true, flags: true, size: true, internalDate: true, envelope: true, bodyStructure: true, source: true });
  assert.deepEqual(all.map((m) => m.size), [PLAIN.length, MIXED.length, LATIN1.length]);
  assert.ok(all[0]!.source!.equals(PLAIN));
  assert.ok(all[1]!.source!.equals(MIXED));
  assert.deepEqual([...all[1]!.flags!].sort(), ['$Work', '\\Flagged']);
  assert.equal(new Date(all[1]!.internalDate!).getTime(), Date.UTC(2024, 0, 6, 11, 30));
  assert.equal(all[1]!.envelope!.subject, 'Résumé attached');
  assert.equal(all[0]!.envelope!.from![0]!.address, 'alice@example.org');
  assert.equal(all[1]!.bodyStructure!.childNodes!.length, 3);
  assert.equal(all[1]!.bodyStructure!.childNodes![2]!.type, 'application/octet-stream');

  const parts = await c.fetchOne('2', { bodyParts: ['1', '2', '2.1', '1.MIME'], headers: ['from', 'CC'] });
  assert.ok(parts);
  assert.equal(parts.bodyParts!.get('1')!.toString(), 'Please find my CV attached.');
  assert.match(parts.bodyParts!.get('2')!.toString(), /^From: Carol <carol@example.com>\r\nSubject: forwarded note\r\n\r\nthe inner needle$/);
  assert.equal(parts.bodyParts!.get('2.1')!.toString(), 'the inner needle');
  assert.equal(parts.bodyParts!.get('1.mime')!.toString(), 'Content-Type: text/plain; charset=utf-8\r\n\r\n');
  assert.equal(parts.headers!.toString(), 'From: Bob <bob@example.net>\r\nCc: carol@example.com\r\n\r\n');
  // BODY.PEEK was used: nothing became \Seen.
  const flags = await c.fetchOne('2', { flags: true });
  assert.ok(flags && !flags.flags!.has('\\Seen'));
});

test('FETCH: partial, BINARY of a base64 part, implicit \\Seen with FLAGS in the response', async () => {
  const raw = await RawConnection.open(h.server.port);
  await raw.login();
  await raw.command('S', 'SELECT INBOX');
  const partial = await raw.command('P', 'FETCH 1 (BODY.PEEK[]<6.5> BODY.PEEK[TEXT]<100.10>)');
  assert.match(partial, /BODY\[\]<6> \{5\}\r\nAlice BODY\[TEXT\]<100> \{0\}\r\n\)/);
  const binary = await raw.command('B', 'FETCH 2 (BINARY.PEEK[3] BINARY.SIZE[3])');
  assert.ok(binary.includes('BINARY[3] ~{8}\r\n\x00\x01\x02\x03\xfa\xfb\x00\x07 BINARY.SIZE[3] 8)'), JSON.stringify(binary));
  const seen = await raw.command('F', 'FETCH 1 BODY[TEXT]');
  assert.match(seen, /^\* 1 FETCH \(FLAGS \(\\Seen\) BODY\[TEXT\] \{24\}\r\nShall we meet at noon\?\r\n\)/m);
  // A second FETCH does not report FLAGS again: they did not change.
  assert.doesNotMatch(await raw.command('G', 'FETCH 1 RFC822.TEXT'), /FLAGS/);
  // EXAMINE is read-only: no implicit \Seen.
  await raw.command('E', 'EXAMINE INBOX');
  assert.doesNotMatch(await raw.command('H', 'FETCH 2 BODY[1]'), /FLAGS/);
  assert.match(await raw.command('I', 'FETCH 4 FLAGS'), /^I BAD/m);
  assert.match(await raw.command('J', 'UID FETCH 99:* UID'), /^\* 3 FETCH \(UID 3\)\r\nJ OK/m);
  raw.close();
  const state = await c.fetchOne('1', { flags: true });
  assert.ok(state && state.flags!.has('\\Seen'));
  const other = await c.fetchOne('2', { flags: true });
  assert.ok(other && !other.flags!.has('\\Seen'));
  await c.messageFlagsRemove('1', ['\\Seen']);
});

test('SEARCH: flags, headers, dates, sizes, body text in other charsets, OR/NOT, UID', async () => {
  await c.mailboxOpen('INBOX');
  const uids = (q: Parameters<ImapFlow['search']>[0]) => c.search(q, { uid: true });
  assert.deepEqual(await uids({ flagged: true }), [2]);
  assert.deepEqual(await uids({ seen: false }), [1, 2]);
  assert.deepEqual(await uids({ keyword: '$work' }), [2]);
  assert.deepEqual(await uids({ from: 'ALICE' }), [1]);
  assert.deepEqual(await uids({ to: 'alice@example.org' }), [2, 3]);
  assert.deepEqual(await uids({ cc: 'carol' }), [2]);
  assert.deepEqual(await uids({ subject: 'résumé' }), [2]);
  assert.deepEqual(await uids({ subject: 'café' }), [3]);
  assert.deepEqual(await uids({ header: { 'x-priority': '3' } }), [1]);
  assert.deepEqual(await uids({ header: { 'message-id': true } }), [1]);
  assert.deepEqual(await uids({ body: 'café est prêt' }), [3]);
  assert.deepEqual(await uids({ body: 'inner needle' }), [2]);
  assert.deepEqual(await uids({ text: 'forwarded note' }), [2]);
  assert.deepEqual(await uids({ text: 'x-priority' }), [1]);
  assert.deepEqual(await uids({ since: new Date('2024-01-05T00:00:00Z') }), [1, 2]);
  assert.deepEqual(await uids({ sentBefore: new Date('2024-01-05T00:00:00Z') }), [3]);
  assert.deepEqual(await uids({ larger: PLAIN.length, smaller: MIXED.length + 1 }), [2, 3].filter((u) => [PLAIN, MIXED, LATIN1][u - 1]!.length > PLAIN.length));
  assert.deepEqual(await uids({ or: [{ flagged: true }, { seen: true }] }), [2, 3]);
  assert.deepEqual(await uids({ not: { from: 'bob' }, uid: '2:*' }), [3]);
  assert.deepEqual(await c.search({ all: true }, { uid: false }), [1, 2, 3]);
  const raw = await RawConnection.open(h.server.port);
  await raw.login();
  await raw.command('S', 'SELECT INBOX');
  assert.match(await raw.command('C', 'SEARCH CHARSET KOI8-R ALL'), /^C NO \[BADCHARSET \(UTF-8 US-ASCII\)\]/m);
  assert.match(await raw.command('D', 'SEARCH FOO'), /^D BAD/m);
  assert.match(await raw.command('E', 'SEARCH RETURN (COUNT MIN) UNSEEN'), /^\* ESEARCH \(TAG "E"\) COUNT 2 MIN 1\r\n/m);
  raw.close();
});

test('STORE: FLAGS/+FLAGS/-FLAGS, keywords, .SILENT, UNCHANGEDSINCE with MODIFIED', async () => {
  await c.mailboxOpen('INBOX');
  assert.ok(await c.messageFlagsAdd('1:2', ['\\Answered', 'Project-X']));
  let msgs = await c.fetchAll('1:3', { flags: true });
  assert.ok(msgs[0]!.flags!.has('Project-X') && msgs[1]!.flags!.has('\\Answered'));
  await c.messageFlagsSet({ uid: '1' }, ['\\Draft'], { uid: true });
  await c.messageFlagsRemove('2', ['Project-X', '\\Flagged']);
  msgs = await c.fetchAll('1:2', { flags: true });
  assert.deepEqual([...msgs[0]!.flags!], ['\\Draft']);
  assert.deepEqual([...msgs[1]!.flags!].sort(), ['$Work', '\\Answered']);

  const raw = await RawConnection.open(h.server.port);
  await raw.login();
  await raw.command('S', 'SELECT INBOX');
  assert.match(await raw.command('A', 'STORE 3 +FLAGS.SILENT (\\Flagged)'), /^A OK/);
  assert.match(await raw.command('B', 'STORE 1 FLAGS (\\Recent)'), /^B BAD/m);
  const fetched = await raw.command('M', 'FETCH 1:3 (MODSEQ)');
  const modseqs = [...fetched.matchAll(/MODSEQ \((\d+)\)/g)].map((m) => Number(m[1]));
  assert.equal(modseqs.length, 3);
  // Message 1 changed after modseqs[0]-1; message 2 is unchanged since its own modseq.
  const since = Math.min(modseqs[1]!, modseqs[0]! - 1);
  const cond = await raw.command('C', `STORE 1:2 (UNCHANGEDSINCE ${modseqs[1]}) +FLAGS (\\Seen)`);
  if (modseqs[0]! > modseqs[1]!) assert.match(cond, /^C OK \[MODIFIED 1\]/m);
  assert.match(cond, /^\* 2 FETCH \(FLAGS \([^)]*\\Seen[^)]*\) MODSEQ \(\d+\)\)/m);
  assert.match(await raw.command('D', `UID STORE 1 (UNCHANGEDSINCE ${since}) -FLAGS (\\Draft)`), /^D OK \[MODIFIED 1\]/m);
  raw.close();
});

test('COPY, MOVE and UID EXPUNGE with UIDPLUS responses', async () => {
  await c.mailboxOpen('INBOX');
  await c.mailboxCreate('Archive');
  const copied = await c.messageCopy('1:2', 'Archive');
  assert.ok(copied);
  assert.deepEqual([...copied.uidMap!.entries()], [[1, 1], [2, 2]]);
  const raw = await RawConnection.open(h.server.port);
  await raw.login();
  await raw.command('S', 'SELECT INBOX');
  assert.match(await raw.command('T', 'COPY 1 Nowhere'), /^T NO \[TRYCREATE\]/m);
  assert.match(await raw.command('U', 'UID COPY 50:60 Archive'), /^U OK/m);
  const moved = await raw.command('M', 'UID MOVE 2 Archive');
  assert.match(moved, /^\* OK \[COPYUID \d+ 2 3\][^\r]*\r\n\* 2 EXPUNGE\r\nM OK/m);
  raw.close();
  await c.mailboxOpen('INBOX');
  assert.deepEqual((await c.fetchAll('1:*', { uid: true })).map((m) => m.uid), [1, 3]);
  // UID EXPUNGE removes only \Deleted messages of its set (RFC 4315 2.1).
  await c.messageFlagsAdd('1:2', ['\\Deleted']);
  assert.ok(await c.messageDelete({ uid: '3' }, { uid: true }));
  assert.deepEqual((await c.fetchAll('1:*', { uid: true })).map((m) => m.uid), [1]);
  const status = await c.status('Archive', { messages: true });
  assert.equal(status && status.messages, 3);
  const archived = await c.mailboxOpen('Archive');
  assert.equal(archived.exists, 3);
  const sources = await c.fetchAll('1:*', { source: true });
  assert.ok(sources[2]!.source!.equals(MIXED));
});

test('a second session sees STORE and EXPUNGE of the first as untagged responses', async () => {
  await c.mailboxOpen('Archive');
  const other = await h.client();
  await other.mailboxOpen('Archive');
  const events: string[] = [];
  other.on('flags', (e: { uid?: number }) => events.push(`flags:${e.uid}`));
  other.on('expunge', (e: { seq: number }) => events.push(`expunge:${e.seq}`));
  await c.messageFlagsAdd({ uid: '1' }, ['\\Flagged'], { uid: true });
  await c.messageMove('2', 'INBOX');
  // Changes reach other sessions through the store's change feed: poll with NOOP (at most ~2 s).
  for (let i = 0; i < 40 && !(events.includes('flags:1') && events.includes('expunge:2')); i++) {
    await other.noop();
    if (!events.includes('expunge:2')) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(events.includes('flags:1'), events.join());
  assert.ok(events.includes('expunge:2'), events.join());
  assert.equal((await other.fetchAll('1:*', { uid: true })).length, 2);
});

test('QRESYNC: own expunges as VANISHED; UID FETCH (CHANGEDSINCE n VANISHED) reports missing UIDs', async () => {
  await h.store.createMailbox('Q');
  for (const m of [PLAIN, MIXED, LATIN1, PLAIN]) await h.store.append('Q', m);
  const raw = await RawConnection.open(h.server.port);
  await raw.login();
  assert.match(await raw.command('E', 'ENABLE QRESYNC'), /^\* ENABLED QRESYNC/m);
  const select = await raw.command('S', 'SELECT Q');
  const highest = Number(/HIGHESTMODSEQ (\d+)/.exec(select)![1]);
  await raw.command('D', 'UID STORE 2 +FLAGS.SILENT (\\Deleted)');
  assert.match(await raw.command('X', 'UID EXPUNGE 1:*'), /^\* VANISHED 2\r\nX OK/m);
  assert.match(await raw.command('M', 'UID MOVE 3 INBOX'), /^\* OK \[COPYUID \d+ 3 \d+\][^\r]*\r\n\* VANISHED 3\r\nM OK/m);
  await raw.command('F', 'UID STORE 4 +FLAGS.SILENT (\\Flagged)');
  const changed = await raw.command('C', `UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${highest} VANISHED)`);
  assert.match(changed, /^\* VANISHED \(EARLIER\) 2:3\r\n/m);
  assert.match(changed, /^\* 2 FETCH \(UID 4 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)\r\nC OK/m);
  assert.doesNotMatch(changed, /UID 1 /);
  assert.match(await raw.command('V', 'FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)'), /^V BAD/m);
  raw.close();
});

test('BINARY of a part in an encoding it cannot undo is NO [UNKNOWN-CTE] (RFC 3516 4.3)', async () => {
  await h.store.createMailbox('U');
  await h.store.append('U', Buffer.from('Subject: uu\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n`\r\nend\r\n'));
  const raw = await RawConnection.open(h.server.port);
  await raw.login();
  await raw.command('S', 'SELECT U');
  assert.match(await raw.command('B', 'FETCH 1 BINARY.PEEK[1]'), /^B NO \[UNKNOWN-CTE\]/m);
  assert.match(await raw.command('C', 'FETCH 1 BODY.PEEK[1]'), /^\* 1 FETCH \(BODY\[1\] \{\d+\}\r\nbegin 644 a/m);
  raw.close();
});

test('SEARCH BODY streams a large quoted-printable Latin-1 part and finds text at its end', async () => {
  await h.store.createMailbox('Big');
  const filler = 'All work and no play makes Jack a dull boy.=\r\n'.repeat(8000); // ~370 KB, soft line breaks
  await h.store.append(
    'Big',
    Buffer.from(`Subject: big\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${filler}Le caf=E9 est pr=EAt\r\n`, 'latin1'),
  );
  await h.store.append('Big', PLAIN);
  const other = await h.client();
  await other.mailboxOpen('Big');
  assert.deepEqual(await other.search({ body: 'CAFÉ EST' }, { uid: true }), [1]);
  assert.deepEqual(await other.search({ body: 'boy.All work' }, { uid: true }), [1]); // across a soft line break
  assert.deepEqual(await other.search({ body: 'thé' }, { uid: true }), []);
});
