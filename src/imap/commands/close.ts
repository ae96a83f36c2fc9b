// CLOSE (RFC 3501 6.4.2): expunge the \Deleted messages silently (no EXPUNGE
// responses) unless read-only, and return to the authenticated state.
// UNSELECT (RFC 3691): the same without expunging.
import { defineCommand } from '../command.js';
import { noArgs } from './args.js';

export const commands = [
  defineCommand({
    name: 'CLOSE',
    states: ['selected'],
    parse: (args) => noArgs(args, 'CLOSE'),
    async handle(session) {
      const view = session.selected!;
      session.unselect();
      if (view.readOnly) return;
      // The store's current flags, not the client's view: \Deleted set by another session counts too.
      const { messages } = await session.store.messages(view.info.name);
      const deleted = messages.filter((m) => m.flags.includes('\\Deleted')).map((m) => m.uid);
      if (deleted.length > 0) await session.store.expunge(view.info.name, deleted);
    },
  }),
  defineCommand({
    name: 'UNSELECT',
    states: ['selected'],
    capabilities: ['UNSELECT'],
    parse: (args) => noArgs(args, 'UNSELECT'),
    async handle(session) {
      session.unselect();
    },
  }),
];
