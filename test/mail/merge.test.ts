import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mergeEntry, mergeMailbox } from '../../src/mail/store/merge.js';
import type { EntryDoc, FlagState, MailboxDoc } from '../../src/mail/store/documents.js';

// HLC-shaped stamps from a small space, so collisions and ties happen often.
const stamp = fc
  .tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 2 }), fc.constantFrom('aa', 'bb', 'cc'))
  .map(([ms, c, node]) => `${String(1_700_000_000_000 + ms).padStart(13, '0')}.${String(c).padStart(6, '0')}.${node}`);
const flagName = fc.constantFrom('\\Seen', '\\Flagged', '\\Deleted', '$Label1', 'Junk');
const flagState: fc.Arbitrary<FlagState> = fc.tuple(fc.constantFrom<0 | 1>(0, 1), stamp);

// Contents an entry may carry: two devices that stored one incoming document
// with different status headers write one entry id with different bytes.
const CONTENTS = [
  { hash: 'h'.repeat(64), size: 10, internalDate: 5 },
  { hash: 'c'.repeat(64), size: 9, internalDate: 5 },
  { hash: 'e'.repeat(64), size: 100, internalDate: 5 },
];
const entry: fc.Arbitrary<EntryDoc> = fc
  .record({
    content: fc.constantFrom(...CONTENTS),
    flags: fc.dictionary(flagName, flagState, { maxKeys: 5 }),
    expunged: fc.option(stamp, { nil: null }),
  })
  .map(({ content, flags, expunged }) => ({ v: 1, mailbox: 'mb', ...content, flags, expunged }));

const mailbox: fc.Arbitrary<MailboxDoc> = fc.record({
  v: fc.constant<1>(1),
  name: fc.constantFrom('A', 'B', 'C/D'),
  nameAt: stamp,
  subscribed: fc.boolean(),
  subscribedAt: stamp,
  specialUse: fc.constant(null),
  created: fc.integer({ min: 0, max: 3 }),
  deleted: fc.option(stamp, { nil: null }),
});

const same = (a: unknown, b: unknown) => assert.deepEqual(a, b);

test('mergeEntry is commutative, associative and idempotent', () => {
  fc.assert(
    fc.property(entry, entry, entry, (a, b, c) => {
      same(mergeEntry(a, b), mergeEntry(b, a));
      same(mergeEntry(mergeEntry(a, b), c), mergeEntry(a, mergeEntry(b, c)));
      same(mergeEntry(a, a), mergeEntry(a, mergeEntry(a, a)));
      same(mergeEntry(mergeEntry(a, b), b), mergeEntry(a, b));
    }),
    { numRuns: 500 },
  );
});

test('mergeEntry: each flag is decided by its latest write; an expunge is never undone', () => {
  fc.assert(
    fc.property(fc.array(entry, { minLength: 1, maxLength: 6 }), (docs) => {
      const merged = docs.reduce(mergeEntry);
      for (const f of new Set(docs.flatMap((d) => Object.keys(d.flags)))) {
        const states = docs.map((d) => d.flags[f]).filter((s): s is FlagState => s !== undefined);
        const latest = states.reduce((x, y) => (y[1] > x[1] ? y : x))[1];
        assert.equal(merged.flags[f][1], latest);
        // Same stamp = same write: "set" wins a tie deterministically.
        const onAtLatest = states.some((s) => s[1] === latest && s[0] === 1);
        assert.equal(merged.flags[f][0], onAtLatest ? 1 : 0);
      }
      assert.equal(merged.expunged !== null, docs.some((d) => d.expunged !== null));
      // The content is one of the merged ones, whole (a size never comes from
      // another blob than the hash), and the same whatever the order: the lowest hash.
      const content = { hash: merged.hash, size: merged.size, internalDate: merged.internalDate };
      const lowest = [...docs].sort((x, y) => (x.hash < y.hash ? -1 : x.hash > y.hash ? 1 : 0))[0]!;
      assert.deepEqual(content, { hash: lowest.hash, size: lowest.size, internalDate: lowest.internalDate });
    }),
    { numRuns: 500 },
  );
});

test('mergeMailbox is commutative, associative, idempotent; deletion wins; latest rename wins', () => {
  fc.assert(
    fc.property(mailbox, mailbox, mailbox, (a, b, c) => {
      same(mergeMailbox(a, b), mergeMailbox(b, a));
      same(mergeMailbox(mergeMailbox(a, b), c), mergeMailbox(a, mergeMailbox(b, c)));
      same(mergeMailbox(a, a), { ...a });
      const m = mergeMailbox(a, b);
      assert.equal(m.deleted !== null, a.deleted !== null || b.deleted !== null);
      assert.equal(m.nameAt, a.nameAt > b.nameAt ? a.nameAt : b.nameAt);
    }),
    { numRuns: 500 },
  );
});
