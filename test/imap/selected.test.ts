// The selected-mailbox view: sequence numbers, and which pending changes
// become which responses when (RFC 3501 5.2, 7.4.1; RFC 7162 3.2.10).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SelectedMailbox } from '../../src/imap/selected.js';
import { serialize, type Response } from '../../src/imap/response/responses.js';
import type { MailboxInfo, MessageMeta } from '../../src/mail/mailstore.js';

const info: MailboxInfo = { id: 'mb1', name: 'INBOX', specialUse: null, subscribed: true, uidValidity: 7, uidNext: 20, highestModseq: 10 };
const meta = (uid: number, flags: string[] = [], modseq = 1): MessageMeta => ({ uid, hash: `h${uid}`, flags, modseq, internalDate: 0, size: 10 });
const text = (rs: Response[]): string[] => rs.map((r) => Buffer.concat(serialize(r, { utf8: false }) as Buffer[]).toString().trimEnd());
const opts = { expunges: true, condstore: false, qresync: false };

test('sequence numbers and UIDs map both ways, with gaps', () => {
  const v = new SelectedMailbox(info, [meta(9), meta(3), meta(5)], false);
  assert.deepEqual(v.messages().map((m) => m.uid), [3, 5, 9]);
  assert.equal(v.seqToUid(2), 5);
  assert.equal(v.uidToSeq(9), 3);
  assert.equal(v.uidToSeq(4), undefined);
  assert.deepEqual(v.uidsToSeq([9, 4, 3]), [3, 1]);
  assert.equal(v.lastUid, 9);
});

test('held expunges keep sequence numbers stable until a legal moment, EXISTS and FETCH go out at once', () => {
  const v = new SelectedMailbox(info, [meta(1), meta(2), meta(3)], false);
  v.enqueue({ kind: 'expunge', mailboxId: 'mb1', uid: 2, modseq: 11 });
  v.enqueue({ kind: 'exists', mailboxId: 'mb1', message: meta(4, [], 12) });
  v.enqueue({ kind: 'flags', mailboxId: 'mb1', message: meta(3, ['\\Seen'], 13) });
  v.enqueue({ kind: 'flags', mailboxId: 'other', message: meta(1, ['\\Seen'], 14) });
  assert.deepEqual(text(v.drain({ ...opts, expunges: false })), ['* 3 FETCH (UID 3 FLAGS (\\Seen))', '* 4 EXISTS']);
  assert.equal(v.uidToSeq(3), 3, 'message 2 still counts');
  assert.ok(v.hasPending());
  assert.deepEqual(text(v.drain(opts)), ['* 2 EXPUNGE']);
  assert.equal(v.uidToSeq(3), 2);
  assert.equal(v.highestModseq, 13);
  assert.ok(!v.hasPending());
});

test('QRESYNC turns expunges into one VANISHED; CONDSTORE adds MODSEQ to FETCH', () => {
  const v = new SelectedMailbox(info, [meta(1), meta(2), meta(3), meta(4)], false);
  for (const uid of [1, 2, 4]) v.enqueue({ kind: 'expunge', mailboxId: 'mb1', uid, modseq: 20 + uid });
  v.enqueue({ kind: 'flags', mailboxId: 'mb1', message: meta(3, ['$X'], 30) });
  assert.deepEqual(text(v.drain({ expunges: true, condstore: true, qresync: true })), ['* 1 FETCH (UID 3 FLAGS ($X) MODSEQ (30))', '* VANISHED 1:2,4']);
});

test('own changes are not announced twice; a message that comes and goes before a flush is never announced', () => {
  const v = new SelectedMailbox(info, [meta(1), meta(2)], false);
  assert.equal(v.updateMessage(meta(1, ['\\Flagged'], 5)), 1);
  v.enqueue({ kind: 'flags', mailboxId: 'mb1', message: meta(1, ['\\Flagged'], 5) });
  assert.deepEqual(v.removeUids([2]), [2]);
  v.enqueue({ kind: 'expunge', mailboxId: 'mb1', uid: 2, modseq: 6 });
  v.enqueue({ kind: 'exists', mailboxId: 'mb1', message: meta(3) });
  v.enqueue({ kind: 'expunge', mailboxId: 'mb1', uid: 3, modseq: 7 });
  assert.deepEqual(text(v.drain(opts)), []);
  assert.equal(v.exists, 1);
});

test('before a command, pending flag changes are visible to it and still announced afterwards (not for messages expunged in the same batch)', () => {
  const v = new SelectedMailbox(info, [meta(1), meta(2)], false);
  v.enqueue({ kind: 'flags', mailboxId: 'mb1', message: meta(1, ['\\Seen'], 5) });
  v.enqueue({ kind: 'flags', mailboxId: 'mb1', message: meta(2, ['\\Deleted'], 6) });
  v.enqueue({ kind: 'expunge', mailboxId: 'mb1', uid: 2, modseq: 7 });
  v.applyPendingFlags();
  assert.deepEqual(v.messages().map((m) => m.flags), [['\\Seen'], ['\\Deleted']]);
  assert.deepEqual(text(v.drain({ ...opts, expunges: false })), ['* 1 FETCH (UID 1 FLAGS (\\Seen))', '* 2 FETCH (UID 2 FLAGS (\\Deleted))']);
  v.enqueue({ kind: 'flags', mailboxId: 'mb1', message: meta(1, ['\\Seen', '\\Flagged'], 8) });
  v.enqueue({ kind: 'expunge', mailboxId: 'mb1', uid: 1, modseq: 9 });
  v.applyPendingFlags();
  assert.deepEqual(text(v.drain(opts)), ['* 2 EXPUNGE', '* 1 EXPUNGE']);
});
