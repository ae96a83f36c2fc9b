// LOGIN (RFC 3501 6.2.3). Refused with PRIVACYREQUIRED (RFC 5530) when
// plaintext passwords are not allowed on this connection (then LOGINDISABLED
// is advertised, RFC 3501 7.2.1).
import { defineCommand } from '../command.js';
import { no } from '../errors.js';
import { atom } from '../response/values.js';
import { astring, expectCount } from './args.js';

export const commands = [
  defineCommand({
    name: 'LOGIN',
    states: ['notAuthenticated'],
    capabilities: [{ name: 'LOGINDISABLED', when: (s) => !s.plaintextAuthAllowed }],
    parse(args) {
      expectCount(args, 2, 2, 'LOGIN user password');
      return { user: astring(args[0], 'user name'), password: astring(args[1], 'password') };
    },
    async handle(session, { user, password }) {
      if (!session.plaintextAuthAllowed) throw no('Plaintext authentication disallowed on non-secure connection; use STARTTLS', 'PRIVACYREQUIRED');
      await session.login(user, password);
      return { code: { name: 'CAPABILITY', args: session.capabilities().map(atom) }, text: 'Logged in' };
    },
  }),
];
