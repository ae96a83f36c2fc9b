// HEADER.FIELDS answered from a message's listing lines (the LISTING_FIELDS
// lines kept in the summary cache) must be the bytes the whole header gives:
// folded fields, lines without a colon, a whitespace-led first line, bare LF,
// a header without its blank line, repeated fields, fields absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterHeader } from '../../../src/mail/structure/sections.js';
import { analyzeMessage, analyzeStream } from '../../../src/mail/structure/index.js';
import { LISTING_FIELDS, fieldsFromListing, listingHeader } from '../../../src/mail/store/summary-cache.js';
import { isListingFields, parseFetchRequest, structureNeeds } from '../../../src/imap/message/fetch-items.js';
import { tokenizeFrame } from '../../../src/imap/wire/tokenizer.js';
import { mulberry32 } from '../../support/prng.js';

const HEADERS = [
  'From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\n',
  'Received: from x\r\n\tby y\r\nFrom: "A" <a@example.org>\r\nSubject: folded\r\n  twice\r\n\tand thrice\r\nX-Other: 1\r\n\r\n',
  ' leading: space first\r\nFrom: a\r\n\r\n',
  'From: bare LF\nSubject: also\n\n',
  'Subject: no blank line\r\nFrom: last without end',
  'From: no blank line, last kept ends\r\nX-Other: last not kept',
  'Subject\r\nFrom: a colonless line named "subject"\r\n\r\n',
  'References: <1@x>\r\n <2@x>\r\nReferences: <3@x>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nCONTENT-TYPE: text/plain\r\nmime-version: 1.0\r\n\r\n',
  'X-Only: nothing listed\r\n\r\n',
  '\r\n',
  '',
  'Subject : space before colon\r\nReply-To: r@x\r\n\r\n',
];

const THUNDERBIRD = ['from', 'to', 'cc', 'bcc', 'subject', 'date', 'message-id', 'priority', 'x-priority', 'references', 'newsgroups', 'in-reply-to', 'content-type', 'reply-to'];

test('HEADER.FIELDS from the listing lines equals HEADER.FIELDS over the whole header', () => {
  const rnd = mulberry32(5);
  const names = [...LISTING_FIELDS];
  for (const text of HEADERS) {
    const header = Buffer.from(text, 'latin1');
    const listing = listingHeader(header);
    const sets = [THUNDERBIRD, names, ['subject'], ['x-priority'], ['from', 'subject']];
    for (let i = 0; i < 20; i++) sets.push(names.filter(() => rnd() < 0.3));
    for (const fields of sets) {
      if (fields.length === 0) continue;
      const expected = filterHeader(header, fields, false);
      assert.deepEqual(fieldsFromListing(listing, fields), expected, `${JSON.stringify(text)} ${fields.join(' ')}`);
      assert.deepEqual(fieldsFromListing(listing, fields), expected, 'the memoized answer too');
    }
    assert.equal(fieldsFromListing(listing, ['from', 'x-other']), null, 'a name not kept: no answer');
  }
});

test('only root HEADER.FIELDS of kept names is answered from the listing', () => {
  const needs = (items: string) => {
    const cmd = tokenizeFrame({ texts: [Buffer.from(`a UID FETCH 1:* ${items}`)], literals: [] });
    return structureNeeds(parseFetchRequest(cmd.args.slice(1), { uid: true }));
  };
  assert.equal(needs('(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])'), 'listing');
  assert.equal(needs('(ENVELOPE BODY.PEEK[HEADER.FIELDS (List-Id)] BODY.PEEK[]<0.100>)'), 'listing');
  assert.equal(needs('(BODY.PEEK[HEADER.FIELDS (From X-Spam-Score)])'), 'tree');
  assert.equal(needs('(BODY.PEEK[HEADER.FIELDS.NOT (From)])'), 'tree');
  assert.equal(needs('(BODY.PEEK[1.HEADER.FIELDS (From)])'), 'tree');
  assert.equal(needs('(BODY.PEEK[HEADER])'), 'tree');
  assert.equal(needs('(ENVELOPE)'), 'rendered');
  assert.equal(isListingFields({ kind: 'simple', name: 'UID' }), false);
});

test('the analyzer keeps the listing lines: the same bytes as over the stored header, whatever the chunking', async () => {
  const bodies = ['\r\nbody\r\n', '\nbody\n', '', '\r\n', '\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n'];
  for (const text of HEADERS) {
    for (const body of bodies) {
      const raw = Buffer.from(text + body, 'latin1');
      const structure = analyzeMessage(raw);
      const expected = listingHeader(raw.subarray(0, structure.root.headerEnd)).toString('latin1');
      assert.equal(structure.listing, expected, JSON.stringify(text + body));
      const streamed = await analyzeStream((function* () {
        for (let i = 0; i < raw.length; i++) yield raw.subarray(i, i + 1);
      })() as unknown as AsyncIterable<Buffer>);
      assert.equal(streamed.listing, expected, `byte by byte: ${JSON.stringify(text + body)}`);
    }
  }
  // A header over the splitter's limit is not kept whole: no listing lines (the header is read instead).
  const huge = Buffer.from(`Subject: big\r\n${'X-Pad: ' + 'a'.repeat(1000) + '\r\n'}`.repeat(300) + '\r\nbody\r\n');
  assert.equal(analyzeMessage(huge).listing, undefined);
});
