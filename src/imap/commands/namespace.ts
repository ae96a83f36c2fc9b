// NAMESPACE (RFC 2342): one personal namespace with prefix "" and "/" as
// delimiter; no other users' or shared namespaces.
import { defineCommand } from '../command.js';
import { untagged } from '../response/responses.js';
import { NIL, atom, list, str } from '../response/values.js';
import { DELIMITER } from '../mailbox-names.js';
import { noArgs } from './args.js';

export const commands = [
  defineCommand({
    name: 'NAMESPACE',
    states: ['authenticated', 'selected'],
    capabilities: ['NAMESPACE'],
    parse: (args) => noArgs(args, 'NAMESPACE'),
    async handle(session) {
      await session.send(untagged(atom('NAMESPACE'), list([list([str(''), str(DELIMITER)])]), NIL, NIL));
    },
  }),
];
