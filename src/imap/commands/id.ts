// ID (RFC 2971): log what the client says it is, answer with our name.
import { defineCommand } from '../command.js';
import { bad } from '../errors.js';
import { untagged } from '../response/responses.js';
import { atom, list, str } from '../response/values.js';
import { tokenText } from '../wire/tokens.js';
import { expectCount } from './args.js';

export const commands = [
  defineCommand({
    name: 'ID',
    states: ['notAuthenticated', 'authenticated', 'selected'],
    capabilities: ['ID'],
    parse(args) {
      expectCount(args, 1, 1, 'ID (field value ...) | ID NIL');
      const arg = args[0]!;
      if (arg.type === 'atom' && arg.value.toUpperCase() === 'NIL') return {};
      if (arg.type !== 'list' || arg.items.length % 2 !== 0 || arg.items.length > 60) throw bad('ID takes NIL or a list of field/value pairs');
      const fields: Record<string, string> = {};
      for (let i = 0; i < arg.items.length; i += 2) {
        const key = tokenText(arg.items[i]);
        if (key === null || arg.items[i]!.type !== 'string') throw bad('ID field names are strings');
        const value = tokenText(arg.items[i + 1]);
        fields[key.slice(0, 30).toLowerCase()] = (value ?? '').slice(0, 1024);
      }
      return fields;
    },
    async handle(session, fields) {
      if (Object.keys(fields).length > 0) session.log.info({ client: fields }, 'client ID');
      await session.send(untagged(atom('ID'), list([str('name'), str('sealmail'), str('vendor'), str('sealmail')])));
    },
  }),
];
