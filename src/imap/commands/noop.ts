// NOOP (RFC 3501 6.1.2) and CHECK (6.4.1): nothing to do; the dispatcher sends
// the pending EXISTS/EXPUNGE/FETCH at their end. CHECK has nothing to
// checkpoint: every store write is already durable when it returns.
import { defineCommand } from '../command.js';
import { noArgs } from './args.js';

export const commands = [
  defineCommand({
    name: 'NOOP',
    states: ['notAuthenticated', 'authenticated', 'selected'],
    parse: (args) => noArgs(args, 'NOOP'),
    async handle() {},
  }),
  defineCommand({
    name: 'CHECK',
    states: ['selected'],
    parse: (args) => noArgs(args, 'CHECK'),
    async handle() {},
  }),
];
