// Differential test of the message-data commands (issue 5): the same messages
// are APPENDed (same flags, same INTERNALDATE) to a real Dovecot and to
// sealmail, then the same scripted FETCH/SEARCH/STORE/COPY/MOVE/EXPUNGE
// sequence is sent to both over raw sockets. Tagged results (status and
// response code), untagged responses (order-insensitive where RFC 3501 7.4.2
// allows: FETCH items per message) and fetched data must agree, after
// normalizing what legitimately differs between two servers: UIDVALIDITY and
// MODSEQ values, \Recent (sealmail has none), literal vs literal8 form, the
// human text after the status, and untagged OK/RECENT noise.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDovecot, type DovecotInstance } from '../../support/dovecot.js';
import { makeCorpus } from '../../support/corpus.js';
import { connect, fetchItems, parseValues, type CommandResult, type ImapValue, type RawImapClient } from '../../support/raw-imap.js';
import { PASSWORD, USER, startHarness, type Harness } from '../harness.js';
import { LATIN1, MIXED, PLAIN } from './messages.js';

const CORPUS = new Set(['simple', 'simple-ct', 'html-only', 'rfc822-top', 'digest', 'ew-mixed-folded', 'utf8-headers', 'qp-binary', 'base64-messy', 'folded-subject']);

const messages: Array<{ name: string; raw: Buffer; flags: string; date: string }> = [
  { name: 'plain', raw: PLAIN, flags: '', date: '05-Jan-2024 10:00:00 +0000' },
  { name: 'mixed', raw: MIXED, flags: '\\Flagged $Work', date: '06-Jan-2024 11:30:00 +0000' },
  { name: 'latin1', raw: LATIN1, flags: '\\Seen', date: '01-Jan-2024 13:00:00 +0000' },
  ...makeCorpus()
    .filter((m) => CORPUS.has(m.name))
    .map((m, i) => ({ name: m.name, raw: m.raw, flags: i % 3 === 0 ? '\\Answered' : '', date: `${10 + i}-Feb-2024 0${i % 10}:15:00 +0000` })),
];

// Known, intended difference: Dovecot refuses BINARY of a part whose quoted-printable is invalid
// (NO [PARSE]); sealmail decodes it leniently, as MUAs do. That message is left out of BINARY 1:*.
const QP_BINARY = messages.findIndex((m) => m.name === 'qp-binary') + 1;
const BINARY_SET = `1:${QP_BINARY - 1},${QP_BINARY + 1}:*`;

/** The script: literals are given as [text with {}, buffers]. */
/** Commands whose result is not compared (set-up that differs by design). */
const SETUP = new Set(['CREATE Archive']);

const SCRIPT: Array<string | [string, Buffer[]]> = [
  'SELECT INBOX',
  'FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)',
  'FETCH 1:3 (ENVELOPE BODYSTRUCTURE BODY)',
  'FETCH 1:* (BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT])',
  'FETCH 1:* (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[2.MIME] BODY.PEEK[3])',
  'FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From Subject X-Priority)] BODY.PEEK[HEADER.FIELDS.NOT (From Date Message-ID)])',
  'FETCH 1:* (BODY.PEEK[]<10.20> BODY.PEEK[TEXT]<0.7> BODY.PEEK[1]<5000.10>)',
  `FETCH ${BINARY_SET} (BINARY.PEEK[1] BINARY.SIZE[1])`,
  'FETCH 2 (BINARY.PEEK[3] BINARY.SIZE[3] BINARY.PEEK[3]<2.3>)',
  'FETCH 1:* (RFC822.HEADER RFC822.SIZE)',
  'UID FETCH 2:4 (FLAGS)',
  'UID FETCH 1000:* (UID)',
  'FETCH 1:* FAST',
  'FETCH 1,3 ALL',
  'FETCH 2 FULL',
  'FETCH 2 RFC822',
  'FETCH 4 BODY[TEXT]',
  'FETCH 5 (FLAGS BODY[1])',
  'FETCH 5 RFC822.TEXT',
  'FETCH 1:* (FLAGS)',
  // errors
  'FETCH 99 FLAGS',
  'FETCH 1 BODY[MIME]',
  'FETCH 1 (FLAGS BOGUS)',
  'FETCH 1 BODY[1.BOGUS]',
  'FETCH 0 FLAGS',
  // SEARCH
  'SEARCH ALL',
  'SEARCH SEEN',
  'SEARCH UNSEEN',
  'SEARCH ANSWERED',
  'SEARCH FLAGGED',
  'SEARCH KEYWORD $Work',
  'SEARCH UNKEYWORD $Work',
  'SEARCH FROM alice',
  'SEARCH FROM "Bob"',
  'SEARCH TO alice@example.org',
  'SEARCH CC carol',
  'SEARCH SUBJECT lunch',
  'SEARCH SUBJECT "simple"',
  ['SEARCH CHARSET UTF-8 SUBJECT {}', [Buffer.from('Résumé', 'utf8')]],
  'SEARCH HEADER X-Priority 3',
  'SEARCH HEADER Message-ID ""',
  'SEARCH BODY noon',
  'SEARCH BODY "inner needle"',
  'SEARCH TEXT "forwarded note"',
  'SEARCH TEXT lorem',
  'SEARCH BODY ipsum',
  'SEARCH LARGER 500',
  'SEARCH SMALLER 400',
  'SEARCH SINCE 5-Jan-2024',
  'SEARCH BEFORE 10-Feb-2024',
  'SEARCH ON 6-Jan-2024',
  'SEARCH SENTSINCE 1-Jan-2024',
  'SEARCH SENTBEFORE 5-Jan-2024',
  'SEARCH SENTON 26-Nov-2026',
  'SEARCH OR SEEN FLAGGED',
  'SEARCH NOT SEEN',
  'SEARCH OR (FROM bob SEEN) (NOT LARGER 300)',
  'SEARCH 2:4 UNSEEN',
  'SEARCH UID 3:*',
  'UID SEARCH UID 2,4:5',
  'UID SEARCH OR FLAGGED ANSWERED',
  // sealmail accepts UTF-8 and US-ASCII only; Dovecot also knows KOI8-R & co.
  'SEARCH CHARSET X-UNKNOWN-CHARSET ALL',
  'SEARCH BOGUS',
  'SEARCH OR SEEN',
  // STORE
  'STORE 1 +FLAGS (\\Flagged $Label1)',
  'STORE 1:3 -FLAGS (\\Seen)',
  'STORE 3 FLAGS (\\Draft)',
  'STORE 4 +FLAGS.SILENT (\\Answered)',
  'UID STORE 1:2 +FLAGS (\\Deleted)',
  'STORE 2 +FLAGS (\\Flagged)',
  'STORE 1 FLAGS ()',
  'STORE 1 +FLAGS (\\Bogus)',
  'FETCH 1:* (FLAGS)',
  // CONDSTORE (RFC 7162): enabled by the first command that uses it; MODSEQ values are normalized
  'FETCH 1:* (UID) (CHANGEDSINCE 1)',
  'SEARCH MODSEQ 1',
  'STORE 2 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)',
  'UID STORE 2,4 +FLAGS (\\Answered)',
  'STORE 5 +FLAGS.SILENT (\\Flagged)',
  'FETCH 6 BODY[1]',
  // COPY / MOVE / EXPUNGE
  'CREATE Archive', // sealmail creates it by default: ALREADYEXISTS there, so its result is not compared
  'COPY 1:2 Archive',
  'UID COPY 4,6:7 Archive',
  'UID COPY 500:600 Archive',
  'COPY 1 Nowhere',
  'MOVE 3 Archive',
  'UID MOVE 5 Archive',
  'UID MOVE 900 Archive',
  'MOVE 1 Nowhere',
  'UID EXPUNGE 2',
  'FETCH 1:* (UID FLAGS)',
  'UID EXPUNGE 1:*',
  'FETCH 1:* (UID FLAGS)',
  'SELECT Archive',
  'FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[])',
  'UID SEARCH ALL',
  // read-only and empty mailboxes
  'EXAMINE Archive',
  'FETCH 1 BODY[TEXT]',
  'FETCH 1 (FLAGS)',
  'STORE 1 +FLAGS (\\Seen)',
  'UID EXPUNGE 1:*',
  'CREATE Empty',
  'SELECT Empty',
  'FETCH 1:* FLAGS',
  'UID FETCH 1:* FLAGS',
  'UID FETCH * FLAGS',
  'SEARCH ALL',
  'UID SEARCH UID 1:*',
  'UID STORE 1:* +FLAGS (\\Seen)',
  'UID COPY 1:* Archive',
];

let dovecot: DovecotInstance;
let harness: Harness;
let ours: RawImapClient;
let theirs: RawImapClient;

async function fill(c: RawImapClient): Promise<void> {
  for (const m of messages) {
    const r = await c.command(`APPEND INBOX (${m.flags}) "${m.date}" {}`, [m.raw]);
    assert.match(r.tagged, /^OK/, r.tagged);
  }
}

before(async () => {
  dovecot = await startDovecot();
  harness = await startHarness();
  theirs = await connect(dovecot.host, dovecot.port);
  await theirs.login(dovecot.user, dovecot.password);
  ours = await connect('127.0.0.1', harness.server.port);
  await ours.login(USER, PASSWORD);
  await fill(theirs);
  await fill(ours);
});

after(async () => {
  await ours?.close();
  await theirs?.close();
  await harness?.close();
  await dovecot?.stop();
});

type Plain = string | null | Plain[];

function plain(v: ImapValue): Plain {
  if (v === null) return null;
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

function normalizeItem(name: string, value: ImapValue): Plain {
  if (name === 'MODSEQ') return 'N';
  if (name === 'FLAGS' && Array.isArray(value)) {
    return (value as ImapValue[])
      .map((f) => String(f))
      .filter((f) => f !== '\\Recent')
      .sort();
  }
  return plain(value);
}

function normalizeCode(text: string): string {
  const m = /^(OK|NO|BAD)(?: \[([^\]]*)\])?/.exec(text);
  if (!m) return text;
  let code = m[2] ?? '';
  code = code.replace(/^(COPYUID|APPENDUID|UIDVALIDITY) \d+/, '$1 V');
  // Dovecot adds READ-WRITE/READ-ONLY to SELECT, both do; other informational codes are kept.
  return code ? `${m[1]} [${code.split(' ')[0] === 'BADCHARSET' ? 'BADCHARSET' : code}]` : m[1]!;
}

function normalize(result: CommandResult, command: string): unknown {
  const fetch = new Map<number, Record<string, Plain>>();
  const other: string[] = [];
  for (const line of result.untagged) {
    const text = line.toString('latin1');
    const f = /^\* (\d+) FETCH /.exec(text);
    if (f) {
      const seq = Number(f[1]);
      const items = fetch.get(seq) ?? {};
      for (const [name, { value }] of fetchItems(line)) items[name] = normalizeItem(name, value);
      fetch.set(seq, items);
      continue;
    }
    // \Recent is not kept by sealmail (IMAP4rev2 dropped it); new keywords are announced by Dovecot
    // with FLAGS/PERMANENTFLAGS (RFC 3501 7.2.6, optional), not by sealmail; [CLOSED] on re-SELECT is the engine's.
    if (/^\* (\d+ RECENT|FLAGS |OK \[(HIGHESTMODSEQ|PERMANENTFLAGS|CLOSED)[\] ])/.test(text)) continue;
    if (command.startsWith('SELECT') && !/EXISTS/.test(text)) continue; // SELECT's data is the engine's
    if (text.startsWith('* SEARCH')) {
      const nums = text.replace(/\(MODSEQ \d+\)/, '').trim().split(' ').slice(2).map(Number);
      other.push(`SEARCH ${nums.sort((a, b) => a - b).join(' ')}`);
      continue;
    }
    other.push(text.startsWith('* OK') || text.startsWith('* NO') ? `* ${normalizeCode(text.slice(2))}` : text);
  }
  const fetched = [...fetch.entries()].sort((a, b) => a[0] - b[0]).map(([seq, items]) => [seq, Object.fromEntries(Object.entries(items).sort())]);
  return { tagged: normalizeCode(result.tagged), untagged: other, fetched };
}

test('sealmail answers the scripted session like Dovecot', async () => {
  const failures: string[] = [];
  for (const step of SCRIPT) {
    const [text, literals] = typeof step === 'string' ? [step, []] : step;
    const [a, b] = [await theirs.command(text, literals), await ours.command(text, literals)];
    if (SETUP.has(text)) continue;
    const expected = normalize(a, text);
    const actual = normalize(b, text);
    try {
      assert.deepEqual(actual, expected);
    } catch {
      failures.push(`${text}\n  dovecot:  ${JSON.stringify(expected).slice(0, 1500)}\n  sealmail: ${JSON.stringify(actual).slice(0, 1500)}`);
    }
  }
  assert.equal(failures.length, 0, `${failures.length} of ${SCRIPT.length} commands differ:\n${failures.join('\n')}`);
});
