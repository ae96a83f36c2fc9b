// Differential test of the mailbox-level commands: the same scripted session
// runs against a real Dovecot and against sealmail. Tagged results (status
// and response code) and the untagged responses must agree after
// normalizing what legitimately differs between two servers: the hierarchy
// delimiter (Dovecot's maildir uses "."), UIDVALIDITY/HIGHESTMODSEQ values,
// \Recent (sealmail keeps none), the human text after a status, the special
// mailboxes sealmail creates for every account, and response codes that only
// one side sends in passing (untagged OK hints).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDovecot, type DovecotInstance } from '../support/dovecot.js';
import { connect, type CommandResult, type RawImapClient } from '../support/raw-imap.js';
import { PASSWORD, USER, startHarness, type Harness } from './harness.js';

const MSG = Buffer.from('From: bob@example.org\r\nSubject: diff\r\n\r\nhello\r\n');

/** "/" in the script stands for the server's delimiter. Literals: [text with {}, buffers]. */
const SCRIPT: Array<string | [string, Buffer[]]> = [
  'CREATE Work',
  'CREATE Work',
  'CREATE Work/Sub',
  'CREATE Work/Sub/Deep',
  'LIST "" "Work*"',
  'LIST "" "Work/%"',
  'LIST "Work/" "%"',
  'LIST "" "nomatch*"',
  'RENAME Work/Sub Work/Renamed',
  'LIST "" "Work*"',
  'RENAME Nope Other',
  'RENAME Work Work/Renamed',
  ['APPEND Work (\\Seen) "05-Jan-2024 10:00:00 +0000" {}', [MSG]],
  ['APPEND Work {}', [MSG]],
  ['APPEND Work ($Label1 \\Flagged) {}', [MSG]],
  ['APPEND Missing {}', [MSG]],
  'STATUS Work (MESSAGES UNSEEN UIDNEXT)',
  'STATUS Missing (MESSAGES)',
  'STATUS Work (BOGUS)',
  // sealmail's store subscribes new mailboxes (Dovecot does not): compare one explicit subscription.
  'SUBSCRIBE Work/Renamed',
  'LSUB "" "Work/Renamed"',
  'UNSUBSCRIBE Work/Renamed',
  'LSUB "" "Work/Renamed"',
  'EXAMINE Work',
  'EXPUNGE',
  'SELECT Work',
  'STORE 1,3 +FLAGS.SILENT (\\Deleted)',
  'EXPUNGE',
  'CHECK',
  'NOOP',
  'CLOSE',
  'CLOSE',
  'SELECT Missing',
  'SELECT Work (CONDSTORE)',
  'UNSELECT',
  'ENABLE CONDSTORE',
  'DELETE Work/Renamed/Deep',
  'DELETE Work/Renamed/Deep',
  'DELETE INBOX',
  'CREATE INBOX',
  // RENAME INBOX: Dovecot's maildir refuses it; sealmail implements RFC 3501 6.3.5 (tested in commands.test.ts).
  'NAMESPACE',
  'FROBNICATE',
  'LIST "" %',
  'CREATE Trailing/',
  'LIST "" "Trailing*"',
  'LIST "" inbox',
  'STATUS inbox (MESSAGES)',
  'EXAMINE inbox',
  'CREATE inbox/child',
  'LIST "" "INBOX*"',
  'SUBSCRIBE NoSuchBox',
  'UNSUBSCRIBE NoSuchBox',
  'CREATE "Tom & Jerry"',
  'CREATE "Entw&APw-rfe"',
  'LIST "" "Tom*"',
  'LIST "" "Entw*"',
  'CREATE "Bad&Name"',
  'LIST "" "Bad&Name"',
  'SELECT "Bad&Name"',
  'RENAME "Tom &- Jerry" "Tom/Jerry"',
  'LIST "" "Tom*"',
  'STATUS "Tom/Jerry" (MESSAGES UIDNEXT)',
  'DELETE Tom',
  'LIST "" "Tom*"',
  'LIST "" "Work*" RETURN (CHILDREN)',
  'LIST () "" "Work*" RETURN ()',
  'LIST "" ("Work" "Work/Renamed")',
  ['APPEND Work (\\Recent) {}', [MSG]],
  ['APPEND Work "bad date" {}', [MSG]],
  ['APPEND Work (\\Seen) "05-Jan-2024 10:00:00 +0000" {}', [MSG]],
  'STATUS Work ()',
  'SELECT',
  'EXAMINE Work (CONDSTORE)',
  // Not compared: ENABLE without arguments (Dovecot says OK; RFC 5161's grammar needs one: BAD), ID (our own name).
  'UNSELECT',
  'CHECK',
  'RENAME Work Work',
  'CREATE ""',
  'DELETE ""',
  'DELETE NoSuchBox',
  'LOGIN a b',
];

/** Mailboxes sealmail creates for every account: not part of the comparison. */
const DEFAULT_BOXES = new Set(['Archive', 'Drafts', 'Junk', 'Sent', 'Trash']);

function normalize(r: CommandResult, delim: string, command = ''): { tagged: string; untagged: string[] } {
  const fixDelim = (s: string): string => (delim === '/' ? s : s.split(`"${delim}"`).join('"/"').replace(/("[^"]*")/g, (q) => q.split(delim).join('/')));
  const status = /^(OK|NO|BAD)(?: \[([A-Z-]+)(?: ([^\]]*))?\])?/.exec(r.tagged);
  let tagged = status ? `${status[1]}${status[2] ? ` [${status[2]}${status[2] === 'APPENDUID' ? ' ' + status[3]!.split(' ')[1] : ''}]` : ''}` : r.tagged;
  // Dovecot answers some refusals NO where the RFC lets a server pick NO or BAD: keep only the status word.
  if (status && status[1] !== 'OK') tagged = status[1]!;
  const untagged: string[] = [];
  for (const buf of r.untagged) {
    let line = fixDelim(buf.toString('latin1'));
    if (/^\* (\d+ RECENT|OK \[(UIDVALIDITY|HIGHESTMODSEQ|CLOSED|URLMECH|NOMODSEQ)|OK (?!\[))/.test(line)) continue;
    if (/^\* OK \[[A-Z-]+/.test(line)) line = line.replace(/\] .*$/, ']');
    if (/^\* NO /.test(line)) continue;
    const list = /^\* (LIST|LSUB) \(([^)]*)\) "\/" (.*)$/.exec(line);
    if (list) {
      const name = list[3]!.replace(/^"(.*)"$/, '$1').split(delim).join('/');
      if (DEFAULT_BOXES.has(name.split('/')[0]!)) continue;
      // \Subscribed/\Marked/\Unmarked are hints the two servers place differently; keep hierarchy attributes.
      const attrs = list[2]!
        .split(' ')
        .filter((a) => a && !/^\\(Subscribed|Marked|Unmarked|NonExistent)$/i.test(a))
        .map((a) => a.toLowerCase())
        .sort();
      line = `* ${list[1]} (${attrs.join(' ')}) "/" ${name}`;
    }
    // A STATUS item order and the atom-vs-quoted form of the name are the server's choice.
    const status = /^\* STATUS (\S+) \((.*)\)$/.exec(line);
    if (status) {
      const pairs = status[2]!.split(' ').reduce<string[]>((acc, w, i, all) => (i % 2 === 0 ? [...acc, `${w} ${all[i + 1]}`] : acc), []);
      line = `* STATUS ${status[1]!.replace(/^"(.*)"$/, '$1')} (${pairs.sort().join(' ')})`;
    }
    // FETCH items come in the server's order (RFC 3501 7.4.2); MODSEQ values are each server's own;
    // sealmail adds UID to unsolicited FETCH (Dovecot only with QRESYNC): ignored when not asked for.
    const fetch = /^\* (\d+) FETCH \((.*)\)$/.exec(line);
    if (fetch) {
      const items = [...fetch[2]!.matchAll(/([A-Z.0-9]+) (\([^)]*\)|\S+)/g)]
        .filter((m) => m[1] !== 'UID' || /UID/.test(command))
        .map((m) => (m[1] === 'MODSEQ' ? 'MODSEQ (n)' : `${m[1]} ${m[2]}`));
      line = `* ${fetch[1]} FETCH (${items.sort().join(' ')})`;
    }
    // Dovecot's FLAGS/PERMANENTFLAGS also list keywords no message carries any more (sealmail lists those in use).
    line = line.replace(/ \\Recent|\\Recent ?/g, '');
    if (/^\* (FLAGS|OK \[PERMANENTFLAGS)/.test(line)) line = line.replace(/ \$\w+/g, '');
    untagged.push(line);
  }
  return { tagged, untagged: untagged.sort() };
}

let dovecot: DovecotInstance;
let h: Harness;
let ours: RawImapClient;
let theirs: RawImapClient;

before(async () => {
  dovecot = await startDovecot();
  h = await startHarness();
  theirs = await connect(dovecot.host, dovecot.port);
  await theirs.login(dovecot.user, dovecot.password);
  ours = await connect('127.0.0.1', h.server.port);
  await ours.login(USER, PASSWORD);
  for (const c of [theirs, ours]) {
    const r = await c.command(`APPEND INBOX {}`, [MSG]);
    assert.match(r.tagged, /^OK/);
  }
});

after(async () => {
  await ours?.close();
  await theirs?.close();
  await h?.close();
  await dovecot?.stop();
});

async function delimiterOf(c: RawImapClient): Promise<string> {
  const r = await c.command('LIST "" ""');
  return /"(.)"/.exec(r.untagged[0]!.toString())![1]!;
}

test('mailbox commands answer like Dovecot', async () => {
  const dDelim = await delimiterOf(theirs);
  assert.equal(await delimiterOf(ours), '/');
  const mismatches: string[] = [];
  for (const step of SCRIPT) {
    const [text, literals] = typeof step === 'string' ? [step, []] : step;
    const r1 = await theirs.command(text.split('/').join(dDelim), literals);
    const r2 = await ours.command(text, literals);
    const a = normalize(r1, dDelim, text);
    const b = normalize(r2, '/', text);
    try {
      assert.deepEqual(b, a);
    } catch {
      mismatches.push(`${text}\n  dovecot:  ${JSON.stringify(a)}\n  sealmail: ${JSON.stringify(b)}`);
    }
  }
  assert.deepEqual(mismatches, [], mismatches.join('\n'));
});

/** Two sessions on one mailbox: which unsolicited responses each gets, and when (RFC 3501 5.2, 7.4.1). */
const SHARED: Array<['A' | 'B', string | [string, Buffer[]]]> = [
  ['A', 'CREATE Shared'],
  ['A', ['APPEND Shared {}', [MSG]]],
  ['A', ['APPEND Shared {}', [MSG]]],
  ['A', ['APPEND Shared {}', [MSG]]],
  ['A', 'SELECT Shared'],
  ['B', 'SELECT Shared'],
  ['B', 'STORE 2 +FLAGS (\\Flagged)'],
  ['A', 'NOOP'],
  ['B', 'STORE 1 +FLAGS.SILENT (\\Deleted)'],
  ['B', 'EXPUNGE'],
  ['A', 'FETCH 1:* (FLAGS)'],
  ['A', 'STORE 3 -FLAGS (\\Seen)'],
  ['A', 'SEARCH ALL'],
  ['A', 'NOOP'],
  ['B', ['APPEND Shared (\\Seen) {}', [MSG]]],
  ['A', 'CHECK'],
  ['A', 'UNSELECT'],
  ['A', 'ENABLE CONDSTORE'],
  ['A', 'SELECT Shared'],
  ['B', 'STORE 1 +FLAGS (\\Answered)'],
  ['A', 'NOOP'],
  ['B', 'STORE 2 +FLAGS.SILENT (\\Deleted)'],
  ['B', 'EXPUNGE'],
  ['A', 'UID FETCH 1:* (FLAGS)'],
  ['A', 'NOOP'],
];

test('two sessions on one mailbox see each other like Dovecot sessions do', async () => {
  const clients = {
    dovecot: { A: theirs, B: await connect(dovecot.host, dovecot.port) },
    sealmail: { A: ours, B: await connect('127.0.0.1', h.server.port) },
  };
  await clients.dovecot.B.login(dovecot.user, dovecot.password);
  await clients.sealmail.B.login(USER, PASSWORD);
  // Both A connections start from the authenticated state.
  await theirs.command('UNSELECT');
  await ours.command('UNSELECT');
  const mismatches: string[] = [];
  try {
    for (const [who, step] of SHARED) {
      const [text, literals] = typeof step === 'string' ? [step, []] : step;
      const a = normalize(await clients.dovecot[who].command(text, literals), '.', text);
      // Store notifications may be asynchronous: let them land before the command that reports them.
      await new Promise((r) => setTimeout(r, 20));
      const b = normalize(await clients.sealmail[who].command(text, literals), '/', text);
      try {
        assert.deepEqual(b, a);
      } catch {
        mismatches.push(`${who}: ${text}\n  dovecot:  ${JSON.stringify(a)}\n  sealmail: ${JSON.stringify(b)}`);
      }
    }
  } finally {
    await clients.dovecot.B.close();
    await clients.sealmail.B.close();
  }
  assert.deepEqual(mismatches, [], mismatches.join('\n'));
});
