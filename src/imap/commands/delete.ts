// DELETE (RFC 3501 6.3.4): INBOX cannot be deleted; deleting the selected
// mailbox is refused here (the client must select another one first), as
// Dovecot does, so a session never watches a vanished mailbox.
import { defineCommand } from '../command.js';
import { no } from '../errors.js';
import { expectCount } from './args.js';

export const commands = [
  defineCommand({
    name: 'DELETE',
    states: ['authenticated', 'selected'],
    parse(args, session) {
      expectCount(args, 1, 1, 'DELETE mailbox');
      return { name: session.mailboxArg(args[0]) };
    },
    async handle(session, { name }) {
      if (name === 'INBOX') throw no('INBOX cannot be deleted', 'CANNOT');
      if (session.selected?.info.name === name) throw no('Cannot delete the selected mailbox', 'INUSE');
      await session.store.deleteMailbox(name);
    },
  }),
];
