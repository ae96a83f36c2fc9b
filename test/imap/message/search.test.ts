import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapError } from '../../../src/imap/errors.js';
import type { MessageMeta } from '../../../src/mail/mailstore.js';
import { MAX_SEARCH_DEPTH, parseSearchDate, parseSearchRequest } from '../../../src/imap/message/search.js';
import { searchMessages, type SearchContent, type SearchMessage } from '../../../src/imap/message/search-eval.js';
import { atom, list, str, words } from './tokens.js';

interface Fixture {
  flags: string[];
  date: string;
  sent: string | null;
  size: number;
  from: string;
  subject: string;
  headers: Record<string, string>;
  body: string;
}

const fixtures: Fixture[] = [
  { flags: ['\\Seen'], date: '2024-01-05T23:30:00Z', sent: '2024-01-05T10:00:00Z', size: 100, from: 'Alice <alice@example.org>', subject: 'Lunch plans', headers: { 'x-tag': 'blue' }, body: 'See you at NOON' },
  { flags: ['\\Flagged', '$Work'], date: '2024-01-06T00:00:00Z', sent: null, size: 5000, from: 'Bob <bob@example.net>', subject: 'Résumé attached', headers: {}, body: 'Please review' },
  { flags: ['\\Deleted', '\\Seen', '\\Answered'], date: '2024-02-01T12:00:00Z', sent: '2024-01-31T12:00:00Z', size: 250, from: 'carol@example.org', subject: 're: lunch', headers: { 'x-tag': '' }, body: 'noon is fine' },
];

const messages: SearchMessage[] = fixtures.map((f, i) => ({
  seq: i + 1,
  recent: i === 1,
  meta: { uid: (i + 1) * 10, hash: `h${i}`, flags: f.flags, modseq: 100 + i, internalDate: Date.parse(f.date), size: f.size } satisfies MessageMeta,
}));

let contentReads = 0;
const content: SearchContent = {
  fields: async (meta) => {
    const f = fixtures[Number(meta.hash.slice(1))]!;
    return { from: f.from, to: 'team@example.org', cc: '', bcc: '', subject: f.subject, sentDate: f.sent ? Date.parse(f.sent) : null, messageId: null, headerNames: Object.keys(f.headers) };
  },
  headerValues: async (meta, name) => {
    const v = fixtures[Number(meta.hash.slice(1))]!.headers[name];
    return v === undefined ? [] : [v];
  },
  headerText: async (meta) => `subject: ${fixtures[Number(meta.hash.slice(1))]!.subject}`,
  bodyContains: async (meta, needle) => {
    contentReads++;
    return fixtures[Number(meta.hash.slice(1))]!.body.toLowerCase().includes(needle.toLowerCase());
  },
};

async function uidsFor(args: Parameters<typeof parseSearchRequest>[0]): Promise<number[]> {
  const { key } = parseSearchRequest(args);
  const found = await searchMessages(key, messages, { count: messages.length, maxUid: 30, content });
  return found.map((m) => m.meta.uid);
}

test('flag, recent and size keys', async () => {
  assert.deepEqual(await uidsFor(words('SEEN')), [10, 30]);
  assert.deepEqual(await uidsFor(words('UNSEEN')), [20]);
  assert.deepEqual(await uidsFor(words('NEW')), [20]);
  assert.deepEqual(await uidsFor(words('OLD')), [10, 30]);
  assert.deepEqual(await uidsFor(words('KEYWORD $work')), [20]);
  assert.deepEqual(await uidsFor(words('UNKEYWORD $Work DELETED')), [30]);
  assert.deepEqual(await uidsFor(words('ANSWERED UNDELETED')), []);
  assert.deepEqual(await uidsFor(words('LARGER 100 SMALLER 5000')), [30]);
  assert.deepEqual(await uidsFor(words('UNFLAGGED UNDRAFT UNANSWERED')), [10]);
});

test('sequence sets, UID sets and * in both', async () => {
  assert.deepEqual(await uidsFor(words('2:*')), [20, 30]);
  assert.deepEqual(await uidsFor(words('UID 15:*')), [20, 30]);
  assert.deepEqual(await uidsFor(words('UID 31:*')), [30]);
  assert.deepEqual(await uidsFor(words('UID 11:19')), []);
});

test('OR, NOT and parenthesised lists nest', async () => {
  assert.deepEqual(await uidsFor([atom('OR'), atom('FLAGGED'), list(atom('SEEN'), atom('LARGER'), atom('200'))]), [20, 30]);
  assert.deepEqual(await uidsFor([atom('NOT'), atom('OR'), atom('1'), atom('3')]), [20]);
  assert.deepEqual(await uidsFor([atom('NOT'), atom('NOT'), atom('DELETED')]), [30]);
});

test('dates: internal (UTC day) and sent (Date: header; none counts as 1970)', async () => {
  assert.deepEqual(await uidsFor(words('ON 5-Jan-2024')), [10]);
  assert.deepEqual(await uidsFor(words('SINCE 06-Jan-2024')), [20, 30]);
  assert.deepEqual(await uidsFor(words('BEFORE 6-jan-2024')), [10]);
  assert.deepEqual(await uidsFor([atom('SENTON'), str('31-Jan-2024')]), [30]);
  assert.deepEqual(await uidsFor(words('SENTBEFORE 1-Feb-2024')), [10, 20, 30]);
  assert.deepEqual(await uidsFor(words('SENTSINCE 2-Jan-1970')), [10, 30]);
  assert.throws(() => parseSearchDate('31-Feb-2024'), ImapError);
  assert.throws(() => parseSearchDate('1-Foo-2024'), ImapError);
});

test('header, address and text keys match case-insensitive substrings of decoded text', async () => {
  assert.deepEqual(await uidsFor([atom('FROM'), str('EXAMPLE.ORG')]), [10, 30]);
  assert.deepEqual(await uidsFor([atom('SUBJECT'), str('résumé', 'literal')]), [20]);
  assert.deepEqual(await uidsFor([atom('SUBJECT'), atom('LUNCH')]), [10, 30]);
  assert.deepEqual(await uidsFor([atom('TO'), atom('team')]), [10, 20, 30]);
  assert.deepEqual(await uidsFor([atom('HEADER'), atom('X-Tag'), str('')]), [10, 30]);
  assert.deepEqual(await uidsFor([atom('HEADER'), atom('X-TAG'), str('BLU')]), [10]);
  assert.deepEqual(await uidsFor([atom('BODY'), atom('noon')]), [10, 30]);
  assert.deepEqual(await uidsFor([atom('TEXT'), atom('résumé')]), [20]);
});

test('cheap keys rule a message out before its body is read', async () => {
  contentReads = 0;
  assert.deepEqual(await uidsFor([atom('BODY'), atom('noon'), atom('FLAGGED')]), []);
  assert.equal(contentReads, 1);
});

test('CHARSET: UTF-8 and US-ASCII accepted, others NO [BADCHARSET]', () => {
  assert.doesNotThrow(() => parseSearchRequest(words('CHARSET utf-8 ALL')));
  assert.doesNotThrow(() => parseSearchRequest([atom('CHARSET'), str('US-ASCII'), atom('ALL')]));
  assert.throws(
    () => parseSearchRequest(words('CHARSET KOI8-R ALL')),
    (e: unknown) => e instanceof ImapError && e.status === 'NO' && e.code === 'BADCHARSET' && e.codeArgs === '(UTF-8 US-ASCII)',
  );
});

test('syntax errors are BAD; deep nesting is refused without exhausting the stack', () => {
  for (const args of [[], words('BOGUS'), words('FROM'), words('LARGER x'), words('OR SEEN'), words('UID x'), [list()], words('KEYWORD \\Seen'), words('ON 2024-01-01')]) {
    assert.throws(() => parseSearchRequest(args), (e: unknown) => e instanceof ImapError && e.status === 'BAD', JSON.stringify(args));
  }
  let deep = list(atom('ALL'));
  for (let i = 0; i < MAX_SEARCH_DEPTH + 5; i++) deep = list(deep);
  assert.throws(() => parseSearchRequest([deep]), ImapError);
  assert.throws(() => parseSearchRequest(Array.from({ length: 10_000 }, () => atom('NOT')).concat(atom('ALL'))), ImapError);
});

test('MODSEQ criterion (RFC 7162 3.1.5), with and without an entry name', async () => {
  const req = parseSearchRequest(words('MODSEQ 101'));
  assert.equal(req.usesModseq, true);
  assert.deepEqual(await uidsFor(words('MODSEQ 101')), [20, 30]);
  assert.deepEqual(await uidsFor([atom('MODSEQ'), str('/flags/\\draft'), atom('all'), atom('102')]), [30]);
});

test('ESEARCH RETURN options only when enabled; empty RETURN means ALL', () => {
  assert.deepEqual(parseSearchRequest([atom('RETURN'), list(atom('min'), atom('COUNT')), atom('ALL')], { esearch: true }).returns, ['MIN', 'COUNT']);
  assert.deepEqual(parseSearchRequest([atom('RETURN'), list(), atom('ALL')], { esearch: true }).returns, ['ALL']);
  assert.throws(() => parseSearchRequest([atom('RETURN'), list(atom('MIN')), atom('ALL')]), ImapError);
});
