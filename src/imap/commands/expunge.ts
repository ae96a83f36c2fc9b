// EXPUNGE (RFC 3501 6.4.3): remove the \Deleted messages and announce each
// with an untagged EXPUNGE (or VANISHED when QRESYNC is on, RFC 7162 3.2.10).
// (UID EXPUNGE, RFC 4315, is the message engine's.)
import { defineCommand } from '../command.js';
import { untagged, type Response } from '../response/responses.js';
import { atom, num } from '../response/values.js';
import { noArgs } from './args.js';
import { compressUids } from './uid-set.js';

export const commands = [
  defineCommand({
    name: 'EXPUNGE',
    states: ['selected'],
    parse: (args) => noArgs(args, 'EXPUNGE'),
    async handle(session) {
      // Announce changes that arrived earlier first, so the sequence numbers below are current.
      await session.flushPending({ expunges: true });
      const view = session.selected!;
      // Like Dovecot: EXPUNGE after EXAMINE succeeds and removes nothing.
      if (view.readOnly) return { text: 'Expunge ignored in read-only mailbox' };
      const deleted = view.messages().filter((m) => m.flags.includes('\\Deleted')).map((m) => m.uid);
      if (deleted.length === 0) return;
      const removed = await session.store.expunge(view.info.name, deleted);
      const inView = removed.filter((uid) => view.uidToSeq(uid) !== undefined);
      const seqs = view.removeUids(removed);
      if (seqs.length === 0) return;
      const responses: Response[] = session.enabled.has('QRESYNC')
        ? [untagged(atom('VANISHED'), atom(compressUids(inView)))]
        : seqs.map((seq) => untagged(num(seq), atom('EXPUNGE')));
      await session.send(...responses);
    },
  }),
];
