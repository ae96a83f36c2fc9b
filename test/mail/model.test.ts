// Model-based test: random sequences of operations (with restarts in
// between) against a plain model of what IMAP promises: UIDs strictly
// increasing and never reused, flags exactly as stored, copies and moves
// landing in the destination in source UID order, MODSEQ never going back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { openMailStore, type OpenedMailStore } from '../../src/mail/store/index.js';

const BOXES = ['INBOX', 'Archive', 'Trash'] as const;
const FLAGS = ['\\Seen', '\\Flagged', '\\Deleted', '$Work'];
const content = (n: number) => Buffer.from(`Subject: c${n}\r\n\r\nbody ${n}\r\n`);
const hashOf = (n: number) => createHash('sha256').update(content(n)).digest('hex');

type Box = (typeof BOXES)[number];
type Op =
  | { op: 'append'; box: Box; c: number; flags: string[] }
  | { op: 'store'; box: Box; pick: number[]; how: 'set' | 'add' | 'remove'; flags: string[] }
  | { op: 'expunge'; box: Box; pick: number[] }
  | { op: 'copy' | 'move'; box: Box; pick: number[]; to: Box }
  | { op: 'reopen'; snapshot: boolean };

interface ModelMsg {
  uid: number;
  hash: string;
  flags: Set<string>;
}

const box = fc.constantFrom(...BOXES);
const flags = fc.subarray(FLAGS);
const pick = fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 4 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant<'append'>('append'), box, c: fc.integer({ min: 0, max: 4 }), flags }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant<'store'>('store'), box, pick, how: fc.constantFrom<'set' | 'add' | 'remove'>('set', 'add', 'remove'), flags }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant<'expunge'>('expunge'), box, pick }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom<'copy' | 'move'>('copy', 'move'), box, pick, to: box }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant<'reopen'>('reopen'), snapshot: fc.boolean() }) },
);

test('the store behaves like the model across random operations and restarts', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
      const docs = new MemoryDocumentStore();
      const local = new MemoryDocumentStore();
      let store: OpenedMailStore = await openMailStore({ docs, local });
      const model = new Map<Box, { msgs: ModelMsg[]; uidNext: number }>(BOXES.map((b) => [b, { msgs: [], uidNext: 1 }]));
      const lastModseq = new Map<Box, number>();
      // Maps a pick (index into the mailbox, or past its end) onto UIDs, some of which do not exist.
      const uidsOf = (b: Box, p: number[]) => p.map((i) => model.get(b)!.msgs[i]?.uid ?? 1000 + i);
      try {
        for (const o of ops) {
          if (o.op === 'append') {
            const m = model.get(o.box)!;
            const r = await store.append(o.box, content(o.c), { flags: o.flags });
            assert.equal(r.uid, m.uidNext);
            m.msgs.push({ uid: m.uidNext++, hash: hashOf(o.c), flags: new Set(o.flags) });
          } else if (o.op === 'store') {
            const uids = uidsOf(o.box, o.pick);
            await store.storeFlags(o.box, uids, o.how, o.flags);
            for (const msg of model.get(o.box)!.msgs) {
              if (!uids.includes(msg.uid)) continue;
              if (o.how === 'set') msg.flags = new Set(o.flags);
              else for (const f of o.flags) o.how === 'add' ? msg.flags.add(f) : msg.flags.delete(f);
            }
          } else if (o.op === 'expunge') {
            const uids = uidsOf(o.box, o.pick);
            const gone = await store.expunge(o.box, uids);
            const m = model.get(o.box)!;
            assert.deepEqual(gone, m.msgs.filter((x) => uids.includes(x.uid)).map((x) => x.uid));
            m.msgs = m.msgs.filter((x) => !uids.includes(x.uid));
          } else if (o.op === 'copy' || o.op === 'move') {
            const uids = uidsOf(o.box, o.pick);
            const src = model.get(o.box)!;
            const chosen = src.msgs.filter((x) => uids.includes(x.uid));
            const r = await store[o.op](o.box, uids, o.to);
            const dst = model.get(o.to)!;
            const expected: Array<[number, number]> = [];
            for (const x of chosen) {
              expected.push([x.uid, dst.uidNext]);
              dst.msgs.push({ uid: dst.uidNext++, hash: x.hash, flags: new Set(x.flags) });
            }
            assert.deepEqual(r.mapping, expected);
            if (o.op === 'move') src.msgs = src.msgs.filter((x) => !uids.includes(x.uid) || dst === src && !chosen.includes(x));
          } else if (o.op === 'reopen') {
            await store.close();
            // Without the snapshot: the index is rebuilt from the documents and the UID records alone.
            if (!o.snapshot) await local.delete('index-snapshot', 'current');
            store = await openMailStore({ docs, local });
          }
          for (const b of BOXES) {
            const { info, messages } = await store.messages(b);
            const m = model.get(b)!;
            assert.deepEqual(
              messages.map((x) => [x.uid, x.hash, [...x.flags].sort()]),
              m.msgs.map((x) => [x.uid, x.hash, [...x.flags].sort()]),
              `${b} after ${JSON.stringify(o)}`,
            );
            assert.equal(info.uidNext, m.uidNext);
            assert.ok(info.highestModseq >= (lastModseq.get(b) ?? 0), 'HIGHESTMODSEQ never goes back');
            lastModseq.set(b, info.highestModseq);
          }
        }
      } finally {
        await store.close();
        await docs.close();
        await local.close();
      }
    }),
    { numRuns: 60 },
  );
});
