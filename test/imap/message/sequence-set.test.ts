import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ImapError } from '../../../src/imap/errors.js';
import {
  formatSequenceSet,
  isSequenceSet,
  parseSequenceSet,
  resolveSequenceNumbers,
  resolveUids,
  setContains,
} from '../../../src/imap/message/sequence-set.js';

test('parses numbers, ranges and *', () => {
  assert.deepEqual(parseSequenceSet('1,3:5,7:*'), [
    { from: 1, to: 1 },
    { from: 3, to: 5 },
    { from: 7, to: '*' },
  ]);
  assert.deepEqual(parseSequenceSet('*:4'), [{ from: '*', to: 4 }]);
});

test('rejects malformed sets with BAD, including $ (no SEARCHRES)', () => {
  for (const text of ['', '0', '1,', ',1', '1:', ':2', '1::2', 'a', '$', '01', '4294967296', '1:2:3', '-1']) {
    assert.throws(() => parseSequenceSet(text), (e: unknown) => e instanceof ImapError && e.status === 'BAD', text);
    if (text !== '4294967296') assert.equal(isSequenceSet(text), false, text);
  }
  assert.equal(isSequenceSet('1:*,5'), true);
});

test('sequence numbers: reversed ranges, overlaps, order and uniqueness', () => {
  assert.deepEqual(resolveSequenceNumbers(parseSequenceSet('5:3,1,4'), 6), [1, 3, 4, 5]);
  assert.deepEqual(resolveSequenceNumbers(parseSequenceSet('*'), 6), [6]);
  assert.deepEqual(resolveSequenceNumbers(parseSequenceSet('4:*'), 6), [4, 5, 6]);
});

test('sequence numbers beyond the mailbox, or * when empty, are an error', () => {
  assert.throws(() => resolveSequenceNumbers(parseSequenceSet('7'), 6), ImapError);
  assert.throws(() => resolveSequenceNumbers(parseSequenceSet('1:*'), 0), ImapError);
});

test('UIDs: gaps, n:* beyond the last UID, empty mailbox, no match is not an error', () => {
  const uids = [3, 4, 10, 11, 20];
  assert.deepEqual(resolveUids(parseSequenceSet('1:*'), uids), [1, 2, 3, 4, 5]);
  assert.deepEqual(resolveUids(parseSequenceSet('5:9'), uids), []);
  assert.deepEqual(resolveUids(parseSequenceSet('11,4'), uids), [2, 4]);
  // RFC 3501 6.4.8: "100:*" is "20:100" here, so it matches the last message.
  assert.deepEqual(resolveUids(parseSequenceSet('100:*'), uids), [5]);
  assert.deepEqual(resolveUids(parseSequenceSet('*'), []), []);
  assert.deepEqual(resolveUids(parseSequenceSet('12:10'), uids), [3, 4]);
});

test('UID resolution agrees with a brute-force membership check', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 30 }),
      fc.array(fc.tuple(fc.oneof(fc.integer({ min: 1, max: 70 }), fc.constant('*' as const)), fc.oneof(fc.integer({ min: 1, max: 70 }), fc.constant('*' as const))), { minLength: 1, maxLength: 5 }),
      (rawUids, pairs) => {
        const uids = [...rawUids].sort((a, b) => a - b);
        const text = pairs.map(([a, b]) => `${a}:${b}`).join(',');
        const set = parseSequenceSet(text);
        const star = uids.length ? uids[uids.length - 1]! : 0;
        const expected = uids.map((u, i) => [u, i + 1] as const).filter(([u]) => setContains(set, u, star)).map(([, seq]) => seq);
        assert.deepEqual(resolveUids(set, uids), expected);
      },
    ),
    { numRuns: 300 },
  );
});

test('formats ascending numbers compactly', () => {
  assert.equal(formatSequenceSet([1, 2, 3, 5, 7, 8]), '1:3,5,7:8');
  assert.equal(formatSequenceSet([4]), '4');
  assert.equal(formatSequenceSet([]), '');
});
