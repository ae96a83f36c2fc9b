// ENABLE (RFC 5161): turn on extensions that change server behaviour
// (CONDSTORE, QRESYNC...: those registered as `enableable`). Unknown names are
// ignored; every requested extension that is now on is listed in ENABLED,
// also when an earlier command (SELECT (CONDSTORE)) turned it on, as Dovecot
// does. QRESYNC implies CONDSTORE (RFC 7162 3.2.3).
import { defineCommand } from '../command.js';
import { untagged } from '../response/responses.js';
import { atom } from '../response/values.js';
import { atomValue } from './args.js';
import { bad } from '../errors.js';

export const commands = [
  defineCommand({
    name: 'ENABLE',
    states: ['authenticated'],
    capabilities: ['ENABLE'],
    parse(args) {
      if (args.length === 0) throw bad('ENABLE needs at least one capability');
      return args.map((a) => atomValue(a, 'capability').toUpperCase());
    },
    async handle(session, names) {
      const enabled: string[] = [];
      for (const name of new Set(names)) {
        if (!session.registry.isEnableable(name, session)) continue;
        session.enabled.add(name);
        enabled.push(name);
        if (name === 'QRESYNC') session.enabled.add('CONDSTORE');
      }
      await session.send(untagged(atom('ENABLED'), ...enabled.map(atom)));
    },
  }),
];
