// LOGOUT (RFC 3501 6.1.3): BYE, tagged OK, then the server closes the connection.
import { defineCommand } from '../command.js';
import { untaggedStatus } from '../response/responses.js';
import { noArgs } from './args.js';

export const commands = [
  defineCommand({
    name: 'LOGOUT',
    states: ['notAuthenticated', 'authenticated', 'selected'],
    parse: (args) => noArgs(args, 'LOGOUT'),
    async handle(session) {
      await session.send(untaggedStatus('BYE', 'Logging out'));
      session.end();
      return { afterResponse: () => session.host.close() };
    },
  }),
];
