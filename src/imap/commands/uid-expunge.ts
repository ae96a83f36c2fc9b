// UID EXPUNGE (RFC 4315 2.1): permanently removes the messages of the UID set
// that have \Deleted — and only those, unlike EXPUNGE.
import { defineCommand, type CommandSpec } from '../command.js';
import { bad } from '../errors.js';
import { resolveMessages, selectedMailbox, sequenceSetArg } from '../message/selection.js';
import type { SequenceSet } from '../message/sequence-set.js';
import { expungeResponses } from './move.js';

export const commands: CommandSpec<SequenceSet>[] = [
  defineCommand<SequenceSet>({
    name: 'UID EXPUNGE',
    states: ['selected'],
    capabilities: ['UIDPLUS'],
    parse: (args) => {
      if (args.length !== 1) throw bad('UID EXPUNGE needs a UID set');
      return sequenceSetArg(args[0]);
    },
    handle: async (session, set) => {
      const selected = selectedMailbox(session);
      if (selected.readOnly) return; // like EXPUNGE in an EXAMINEd mailbox (and Dovecot): nothing to do
      const deleted = resolveMessages(selected, set, true)
        .filter((m) => m.meta.flags.some((f) => f.toLowerCase() === '\\deleted'))
        .map((m) => m.meta.uid);
      if (deleted.length === 0) return;
      const expunged = await session.store.expunge(selected.info.name, deleted);
      const responses = expungeResponses(session, expunged);
      if (responses.length > 0) await session.send(...responses);
    },
  }),
];
