// SearchFields: RFC 2047 encoded words decoded in many charsets, addresses
// flattened with decoded names, Date parsed, header names listed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import iconv from 'iconv-lite';
import { analyzeMessage } from '../../../src/mail/structure/index.js';
import { parseDate } from '../../../src/mail/structure/search.js';
import { makeCorpus } from '../../support/corpus.js';

const corpus = makeCorpus();
const search = (name: string) => analyzeMessage(corpus.find((m) => m.name === name)!.raw).search;

test('encoded-word subjects and names decode in every corpus charset', () => {
  const expected: Array<[string, string]> = [
    ['UTF-8', 'Grüße — ünïcødé ✓'],
    ['ISO-8859-1', 'Café crème'],
    ['ISO-8859-2', 'Zażółć gęślą'],
    ['ISO-8859-15', 'Prix 5 €'],
    ['KOI8-R', 'Привет мир'],
    ['Shift_JIS', '日本語の件名'],
    ['GB2312', '中文主题'],
    ['windows-1252', 'smart “quotes”'],
    ['Big5', '繁體中文'],
  ];
  let i = 0;
  for (const [charset, subject] of expected) {
    const name = `ew-${charset.toLowerCase()}`;
    const s = search(name);
    assert.equal(s.subject, subject, name);
    // "á" does not exist in every charset: the corpus encoded it as the charset could
    const displayName = iconv.decode(iconv.encode(`Náme ${i}`, charset), charset);
    assert.equal(s.from, `${displayName} <n${i}@example.org>`, name);
    assert.equal(s.to, 'bob@example.net');
    assert.equal(s.sentDate, Date.UTC(2026, 10, 2, 7, i, 0), `${name} date`);
    i++;
  }
  assert.equal(search('ew-mixed-folded').subject, 'première partiedeuxième plain tail');
});

test('raw 8-bit and UTF-8 headers, unknown charsets, groups and odd addresses', () => {
  assert.equal(search('utf8-headers').subject, 'Ünïcödé raw UTF-8 ✓');
  assert.equal(search('utf8-headers').from, 'Jörg <j@example.de>');
  assert.equal(search('8bit-headers').from, 'Jörg Müller <joerg@example.de>', 'latin1 bytes kept as latin1');
  assert.match(search('unknown-charset').subject, /and/);
  assert.equal(search('group-syntax').cc, 'bob@example.net, Carol C <carol@example.net>, dave@example.net');
  assert.equal(search('group-syntax').to, '');
  assert.equal(search('empty-from').from, '');
  const odd = search('addresses-odd');
  assert.equal(odd.from, 'Last, First <first.last@example.org>');
  assert.equal(odd.cc, 'Éloä <e@example.org>');
  assert.equal(odd.to, 'Bob Comment <bob@example.net>, carol@example.net, nodomain, quoted local@example.org');
  assert.deepEqual(search('simple').headerNames, ['from', 'to', 'subject', 'date', 'message-id', 'mime-version']);
  assert.equal(search('simple').messageId, '<simple@example.org>');
  assert.equal(search('no-header').sentDate, null);
});

test('dates: RFC 5322 forms, comments, obsolete zones and garbage', () => {
  assert.equal(parseDate('Thu, 26 Nov 2026 10:00:00 +0100 (CET)'), Date.UTC(2026, 10, 26, 9, 0, 0));
  assert.equal(parseDate('26 Nov 2026 10:00 GMT'), Date.UTC(2026, 10, 26, 10, 0, 0));
  assert.equal(parseDate('Fri, 1 Jan 99 00:00:00 -0000'), Date.UTC(1999, 0, 1));
  assert.equal(parseDate('Blursday, 31 Foo 2026'), null);
  assert.equal(parseDate(null), null);
});
