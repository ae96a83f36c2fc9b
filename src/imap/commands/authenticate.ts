// AUTHENTICATE (RFC 3501 6.2.2) with the PLAIN mechanism (RFC 4616) and an
// optional initial response (SASL-IR, RFC 4959; "=" means empty).
import { defineCommand } from '../command.js';
import { bad, no } from '../errors.js';
import { continuation } from '../response/responses.js';
import { atom } from '../response/values.js';
import { astring, atomValue, expectCount } from './args.js';

function decodePlain(b64: string): { user: string; password: string } {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw bad('Invalid base64 in SASL response');
  const parts = Buffer.from(b64, 'base64').toString('utf8').split('\0');
  if (parts.length !== 3) throw bad('Malformed PLAIN response');
  const [authzid, user, password] = parts as [string, string, string];
  if (authzid !== '' && authzid !== user) throw no('Proxy authentication is not supported', 'AUTHENTICATIONFAILED');
  return { user, password };
}

export const commands = [
  defineCommand({
    name: 'AUTHENTICATE',
    states: ['notAuthenticated'],
    capabilities: [
      { name: 'AUTH=PLAIN', when: (s) => s.plaintextAuthAllowed },
      { name: 'SASL-IR', when: (s) => s.plaintextAuthAllowed },
    ],
    parse(args) {
      expectCount(args, 1, 2, 'AUTHENTICATE mechanism [initial-response]');
      const mechanism = atomValue(args[0], 'SASL mechanism').toUpperCase();
      const initial = args.length > 1 ? astring(args[1], 'initial response') : null;
      return { mechanism, initial };
    },
    async handle(session, { mechanism, initial }) {
      if (mechanism !== 'PLAIN') throw no(`Unsupported authentication mechanism ${mechanism.slice(0, 20)}`, 'CANNOT');
      if (!session.plaintextAuthAllowed) throw no('Plaintext authentication disallowed on non-secure connection; use STARTTLS', 'PRIVACYREQUIRED');
      let response = initial === '=' ? '' : initial;
      if (response === null) {
        await session.send(continuation(''));
        response = (await session.readLine()).trim();
        if (response === '*') throw bad('Authentication cancelled');
      }
      const { user, password } = decodePlain(response);
      await session.login(user, password);
      return { code: { name: 'CAPABILITY', args: session.capabilities().map(atom) }, text: 'Logged in' };
    },
  }),
];
