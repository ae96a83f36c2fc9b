// CAPABILITY (RFC 3501 6.1.1): the list derives from the registered commands.
import { defineCommand } from '../command.js';
import { untagged } from '../response/responses.js';
import { atom } from '../response/values.js';
import { noArgs } from './args.js';

export const commands = [
  defineCommand({
    name: 'CAPABILITY',
    states: ['notAuthenticated', 'authenticated', 'selected'],
    parse: (args) => noArgs(args, 'CAPABILITY'),
    async handle(session) {
      await session.send(untagged(atom('CAPABILITY'), ...session.capabilities().map(atom)));
    },
  }),
];
