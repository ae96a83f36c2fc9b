// STARTTLS (RFC 3501 6.2.1): after the tagged OK the socket is wrapped in TLS;
// anything the client pipelined after the command is discarded (RFC 7817 /
// CVE-2011-0411 class of injection), and the client must ask CAPABILITY again.
import { defineCommand } from '../command.js';
import { bad } from '../errors.js';
import { noArgs } from './args.js';

export const commands = [
  defineCommand({
    name: 'STARTTLS',
    states: ['notAuthenticated'],
    capabilities: [{ name: 'STARTTLS', when: (s) => s.host.canStartTls() }],
    parse: (args) => noArgs(args, 'STARTTLS'),
    async handle(session) {
      if (!session.host.canStartTls()) throw bad(session.secure ? 'TLS is already active' : 'TLS is not available');
      return { text: 'Begin TLS negotiation now', afterResponse: () => session.host.startTls() };
    },
  }),
];
