// STATUS (RFC 3501 6.3.10) with HIGHESTMODSEQ (RFC 7162 3.1.6) and SIZE
// (STATUS=SIZE, RFC 8438). \Recent is not tracked (gone in IMAP4rev2), so
// RECENT is always 0.
import { defineCommand } from '../command.js';
import { bad } from '../errors.js';
import { untagged } from '../response/responses.js';
import { atom, list, num, str, type ImapValue } from '../response/values.js';
import { tokenText } from '../wire/tokens.js';
import { atomValue, expectCount, listItems } from './args.js';

const ITEMS = ['MESSAGES', 'RECENT', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'HIGHESTMODSEQ', 'SIZE'] as const;
type Item = (typeof ITEMS)[number];

export const commands = [
  defineCommand({
    name: 'STATUS',
    states: ['authenticated', 'selected'],
    capabilities: ['STATUS=SIZE'],
    parse(args, session) {
      expectCount(args, 2, 2, 'STATUS mailbox (items)');
      const items = listItems(args[1], 'status item').map((t) => {
        const name = atomValue(t, 'status item').toUpperCase();
        if (!(ITEMS as readonly string[]).includes(name)) throw bad(`Unknown STATUS item ${name.slice(0, 30)}`);
        return name as Item;
      });
      if (items.length === 0) throw bad('STATUS needs at least one item');
      // The response names the mailbox as the client wrote it ("inbox" stays "inbox"), as Dovecot does.
      return { mailbox: session.mailboxArg(args[0]), asSent: tokenText(args[0])!, items };
    },
    async handle(session, { mailbox, asSent, items }) {
      const st = await session.store.status(mailbox);
      if (items.includes('HIGHESTMODSEQ')) session.enabled.add('CONDSTORE'); // RFC 7162 3.1: a CONDSTORE-enabling command
      const values: Record<Item, number> = {
        MESSAGES: st.messages,
        RECENT: 0,
        UIDNEXT: st.uidNext,
        UIDVALIDITY: st.uidValidity,
        UNSEEN: st.unseen,
        HIGHESTMODSEQ: st.highestModseq,
        SIZE: st.size,
      };
      const out: ImapValue[] = [];
      for (const item of items) out.push(atom(item), num(values[item]));
      await session.send(untagged(atom('STATUS'), str(asSent), list(out)));
    },
  }),
];
