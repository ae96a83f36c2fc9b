import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapError } from '../../../src/imap/errors.js';
import { parseFetchRequest, parseSection, type FetchItem } from '../../../src/imap/message/fetch-items.js';
import { atom, list, str } from './tokens.js';

const simpleNames = (items: FetchItem[]) => items.map((i) => (i.kind === 'simple' ? i.name : i.label));

test('macros expand to their RFC 3501 6.4.5 items', () => {
  assert.deepEqual(simpleNames(parseFetchRequest([atom('all')], { uid: false }).items), ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE']);
  assert.deepEqual(simpleNames(parseFetchRequest([atom('FAST')], { uid: false }).items), ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE']);
  assert.deepEqual(simpleNames(parseFetchRequest([atom('FULL')], { uid: false }).items), ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY']);
  // A macro inside a list is not a macro.
  assert.throws(() => parseFetchRequest([list(atom('ALL'))], { uid: false }), ImapError);
});

test('sections, labels, partials and implicit \\Seen', () => {
  const req = parseFetchRequest(
    [
      list(
        atom('UID'),
        atom('BODY.PEEK', { section: [atom('HEADER.FIELDS'), list(atom('From'), str('to'))] }),
        atom('BODY', { section: [], partial: { start: 0, length: 100 } }),
        atom('body', { section: [atom('1.2.MIME')] }),
        atom('RFC822'),
        atom('RFC822.HEADER'),
        atom('RFC822.TEXT'),
        atom('BINARY.PEEK', { section: [atom('2')] }),
        atom('BINARY.SIZE', { section: [atom('1')] }),
        atom('BODY', { section: [atom('3.HEADER.FIELDS.NOT'), list(atom('X-A'))] }),
      ),
    ],
    { uid: true },
  );
  const sections = req.items.filter((i) => i.kind === 'section');
  assert.deepEqual(
    sections.map((i) => [i.label, i.setsSeen, i.binary]),
    [
      ['BODY[HEADER.FIELDS (FROM TO)]', false, false],
      ['BODY[]', true, false],
      ['BODY[1.2.MIME]', true, false],
      ['RFC822', true, false],
      ['RFC822.HEADER', false, false],
      ['RFC822.TEXT', true, false],
      ['BINARY[2]', false, true],
      ['BODY[3.HEADER.FIELDS.NOT (X-A)]', true, false],
    ],
  );
  assert.deepEqual(sections[1]!.partial, { start: 0, length: 100 });
  assert.deepEqual(sections[2]!.section, { part: [1, 2], text: 'MIME' });
  assert.ok(req.items.some((i) => i.kind === 'binary.size' && i.label === 'BINARY.SIZE[1]' && i.part[0] === 1));
});

test('invalid sections and attributes are BAD', () => {
  const bads = [
    [atom('BODY', { section: [atom('MIME')] })],
    [atom('BODY', { section: [atom('0')] })],
    [atom('BODY', { section: [atom('1.FOO')] })],
    [atom('BODY', { section: [atom('HEADER.FIELDS')] })],
    [atom('BODY', { section: [atom('HEADER.FIELDS'), list()] })],
    [atom('BINARY', { section: [atom('1.HEADER')] })],
    [atom('BINARY.SIZE', { section: [atom('1')], partial: { start: 0, length: 5 } })],
    [atom('BODY', { section: [], partial: { start: 0, length: 0 } })],
    [atom('FLAGS', { partial: { start: 0, length: 1 } })],
    [atom('RFC822.BOGUS')],
    [list()],
    [str('FLAGS')],
  ];
  for (const args of bads) {
    assert.throws(() => parseFetchRequest(args, { uid: false }), (e: unknown) => e instanceof ImapError && e.status === 'BAD', JSON.stringify(args));
  }
});

test('section numbering parses parts and text specifiers', () => {
  assert.deepEqual(parseSection([]), { part: [], text: null });
  assert.deepEqual(parseSection([atom('4.2.1')]), { part: [4, 2, 1], text: null });
  assert.deepEqual(parseSection([atom('2.text')]), { part: [2], text: 'TEXT' });
  assert.deepEqual(parseSection([atom('HEADER')]), { part: [], text: 'HEADER' });
});

test('CHANGEDSINCE adds MODSEQ; VANISHED only in UID FETCH with CHANGEDSINCE', () => {
  const req = parseFetchRequest([list(atom('FLAGS')), list(atom('CHANGEDSINCE'), atom('12345'))], { uid: false });
  assert.equal(req.changedSince, 12345);
  assert.ok(req.items.some((i) => i.kind === 'simple' && i.name === 'MODSEQ'));
  const v = parseFetchRequest([atom('FLAGS'), list(atom('CHANGEDSINCE'), atom('7'), atom('VANISHED'))], { uid: true });
  assert.equal(v.vanished, true);
  assert.throws(() => parseFetchRequest([atom('FLAGS'), list(atom('CHANGEDSINCE'), atom('7'), atom('VANISHED'))], { uid: false }), ImapError);
  assert.throws(() => parseFetchRequest([atom('FLAGS'), list(atom('VANISHED'))], { uid: true }), ImapError);
  assert.throws(() => parseFetchRequest([atom('FLAGS'), list(atom('CHANGEDSINCE'), atom('x'))], { uid: true }), ImapError);
});
