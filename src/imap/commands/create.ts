// CREATE (RFC 3501 6.3.3) with the USE parameter of CREATE-SPECIAL-USE
// (RFC 6154 3). A trailing delimiter is allowed and dropped; creating an
// existing mailbox is NO [ALREADYEXISTS] (RFC 5530).
import { defineCommand } from '../command.js';
import { bad, no } from '../errors.js';
import type { SpecialUse } from '../../mail/mailstore.js';
import { validateNewMailboxName } from '../mailbox-names.js';
import { atomValue, expectCount, listItems } from './args.js';

const SPECIAL_USES: SpecialUse[] = ['\\All', '\\Archive', '\\Drafts', '\\Flagged', '\\Junk', '\\Sent', '\\Trash'];

export const commands = [
  defineCommand({
    name: 'CREATE',
    states: ['authenticated', 'selected'],
    capabilities: ['CREATE-SPECIAL-USE'],
    parse(args, session) {
      expectCount(args, 1, 2, 'CREATE mailbox [(USE (\\Special))]');
      const name = validateNewMailboxName(session.mailboxArg(args[0]));
      let specialUse: SpecialUse | undefined;
      if (args[1]) {
        const params = listItems(args[1], 'CREATE parameter');
        if (params.length !== 2 || atomValue(params[0], 'USE').toUpperCase() !== 'USE') throw bad('Only the USE parameter is supported');
        const uses = listItems(params[1], 'special-use');
        if (uses.length !== 1) throw bad('Exactly one special-use attribute is supported', 'CLIENTBUG');
        const wanted = atomValue(uses[0], 'special-use').toLowerCase();
        specialUse = SPECIAL_USES.find((u) => u.toLowerCase() === wanted);
        if (!specialUse) throw no('Unknown special-use attribute', 'CANNOT');
      }
      return { name, specialUse };
    },
    async handle(session, { name, specialUse }) {
      if (name === 'INBOX') throw no('INBOX already exists', 'ALREADYEXISTS');
      await session.store.createMailbox(name, specialUse ? { specialUse } : undefined);
    },
  }),
];
