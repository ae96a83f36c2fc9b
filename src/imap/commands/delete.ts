// DELETE (RFC 3501 6.3.4): INBOX cannot be deleted. Deleting the selected
// mailbox is allowed and, as in Dovecot, ends the connection with BYE after the
// tagged OK: the client's view of the mailbox cannot continue.
import { defineCommand } from '../command.js';
import { no } from '../errors.js';
import { untaggedStatus } from '../response/responses.js';
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
      const deletingSelected = session.selected?.info.name === name;
      await session.store.deleteMailbox(name);
      if (!deletingSelected) return;
      session.unselect();
      return {
        afterResponse: async () => {
          await session.send(untaggedStatus('BYE', 'Selected mailbox was deleted, have to disconnect'));
          session.host.close();
        },
      };
    },
  }),
];
