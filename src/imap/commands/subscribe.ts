// SUBSCRIBE and UNSUBSCRIBE (RFC 3501 6.3.6, 6.3.7).
import { defineCommand } from '../command.js';
import { expectCount } from './args.js';

function subscription(name: 'SUBSCRIBE' | 'UNSUBSCRIBE', subscribed: boolean) {
  return defineCommand({
    name,
    states: ['authenticated', 'selected'],
    parse(args, session) {
      expectCount(args, 1, 1, `${name} mailbox`);
      return { mailbox: session.mailboxArg(args[0]) };
    },
    async handle(session, { mailbox }) {
      await session.store.setSubscribed(mailbox, subscribed);
    },
  });
}

export const commands = [subscription('SUBSCRIBE', true), subscription('UNSUBSCRIBE', false)];
