// EXPUNGE (RFC 3501 6.4.3): remove the \Deleted messages and announce each
// with an untagged EXPUNGE (or VANISHED when QRESYNC is on, RFC 7162 3.2.10).
// (UID EXPUNGE, RFC 4315, is the message engine's.)
import { defineCommand } from '../command.js';
import { no } from '../errors.js';
import { untagged, type Response } from '../response/responses.js';
import { atom, num } from '../response/values.js';
import type { ImapSession } from '../session.js';
import { noArgs } from './args.js';
import { compressUids } from './uid-set.js';

/** Expunge the given UIDs of the selected mailbox and announce them (shared with UID EXPUNGE). */
export async function expungeAndAnnounce(session: ImapSession, uids: number[]): Promise<void> {
  const view = session.selected!;
  if (view.readOnly) throw no('Mailbox is read-only', 'CANNOT');
  // Announce changes that arrived earlier first, so sequence numbers below are current.
  await session.flushPending({ expunges: true });
  if (uids.length === 0) return;
  const removed = await session.store.expunge(view.info.name, uids);
  const inView = removed.filter((uid) => view.uidToSeq(uid) !== undefined);
  const seqs = view.removeUids(removed);
  if (seqs.length === 0) return;
  const responses: Response[] = session.enabled.has('QRESYNC')
    ? [untagged(atom('VANISHED'), atom(compressUids(inView)))]
    : seqs.map((seq) => untagged(num(seq), atom('EXPUNGE')));
  await session.send(...responses);
}

export const commands = [
  defineCommand({
    name: 'EXPUNGE',
    states: ['selected'],
    parse: (args) => noArgs(args, 'EXPUNGE'),
    async handle(session) {
      await session.flushPending({ expunges: true });
      const view = session.selected!;
      const deleted = view.messages().filter((m) => m.flags.includes('\\Deleted')).map((m) => m.uid);
      await expungeAndAnnounce(session, deleted);
    },
  }),
];
