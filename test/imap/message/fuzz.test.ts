// Random token trees never make the message-data parsers fail with anything
// but an ImapError (which the dispatcher turns into BAD/NO).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ImapError } from '../../../src/imap/errors.js';
import type { Token } from '../../../src/imap/wire/tokens.js';
import { parseFetchRequest } from '../../../src/imap/message/fetch-items.js';
import { parseSearchRequest } from '../../../src/imap/message/search.js';
import { parseSequenceSet } from '../../../src/imap/message/sequence-set.js';

const WORDS = ['BODY', 'BODY.PEEK', 'BINARY', 'BINARY.SIZE', 'HEADER.FIELDS', 'OR', 'NOT', 'UID', 'FROM', 'CHARSET', 'UTF-8', 'MODSEQ', 'CHANGEDSINCE', 'VANISHED', '1:*', '*', '0', '5', 'ALL', 'SEEN', 'HEADER', 'RETURN', 'MIN', '1.2.MIME', 'TEXT', '$', '2:1,3', '01-Jan-2024', 'LARGER', 'KEYWORD', '\\Seen'];

const token: fc.Arbitrary<Token> = fc.letrec<{ t: Token }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ type: fc.constant('atom' as const), value: fc.oneof(fc.constantFrom(...WORDS), fc.string({ maxLength: 6 })) }),
    fc.record({
      type: fc.constant('atom' as const),
      value: fc.constantFrom('BODY', 'BODY.PEEK', 'BINARY', 'BINARY.SIZE', 'FLAGS'),
      section: fc.array(tie('t'), { maxLength: 3 }),
    }),
    fc.record({ type: fc.constant('string' as const), value: fc.string({ maxLength: 6 }).map((s) => Buffer.from(s)), form: fc.constant('quoted' as const) }),
    fc.record({ type: fc.constant('list' as const), items: fc.array(tie('t'), { maxLength: 4 }) }),
  ),
})).t;

function onlyImapErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ImapError, `unexpected ${String(err)}`);
  }
}

test('FETCH, SEARCH and sequence-set parsers only ever throw ImapError', () => {
  fc.assert(
    fc.property(fc.array(token, { maxLength: 8 }), fc.boolean(), (args, uid) => {
      onlyImapErrors(() => parseFetchRequest(args, { uid }));
      onlyImapErrors(() => parseSearchRequest(args, { esearch: uid }));
    }),
    { numRuns: 2000 },
  );
  fc.assert(fc.property(fc.string({ maxLength: 20 }), (text) => onlyImapErrors(() => parseSequenceSet(text))), { numRuns: 2000 });
});
