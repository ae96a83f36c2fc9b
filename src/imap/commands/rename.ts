// RENAME (RFC 3501 6.3.5): renaming INBOX moves its messages to the new
// mailbox and leaves INBOX empty (the store implements that). Renaming onto
// an existing name is NO [ALREADYEXISTS].
import { defineCommand } from '../command.js';
import { no } from '../errors.js';
import { validateNewMailboxName } from '../mailbox-names.js';
import { expectCount } from './args.js';

export const commands = [
  defineCommand({
    name: 'RENAME',
    states: ['authenticated', 'selected'],
    parse(args, session) {
      expectCount(args, 2, 2, 'RENAME from to');
      return { from: session.mailboxArg(args[0]), to: validateNewMailboxName(session.mailboxArg(args[1])) };
    },
    async handle(session, { from, to }) {
      if (to === 'INBOX') throw no('INBOX already exists', 'ALREADYEXISTS');
      if (from === to) throw no('Source and destination are the same', 'ALREADYEXISTS');
      await session.store.renameMailbox(from, to);
      // The selected mailbox keeps its id; refresh its name for later commands.
      const sel = session.selected;
      if (sel && from !== 'INBOX') {
        if (sel.info.name === from) sel.info = { ...sel.info, name: to };
        else if (sel.info.name.startsWith(from + '/')) sel.info = { ...sel.info, name: to + sel.info.name.slice(from.length) };
      }
    },
  }),
];
