// IDLE (RFC 2177): "+ idling", then changes are sent as they happen (EXPUNGE
// included) until the client sends DONE.
import { defineCommand } from '../command.js';
import { bad } from '../errors.js';
import { continuation } from '../response/responses.js';
import { noArgs } from './args.js';

export const commands = [
  defineCommand({
    name: 'IDLE',
    states: ['authenticated', 'selected'],
    capabilities: ['IDLE'],
    parse: (args) => noArgs(args, 'IDLE'),
    async handle(session) {
      await session.send(continuation('idling'));
      let done = false;
      const line = session.readLine().finally(() => {
        done = true;
        session.wake();
      });
      // If the loop below throws, nobody awaits `line`: its later rejection must not go unhandled.
      line.catch(() => undefined);
      session.idling = true;
      try {
        while (!done) {
          await session.flushPending({ expunges: true });
          if (done) break;
          await session.waitForChange();
        }
      } finally {
        session.idling = false;
      }
      const text = await line;
      if (text.trim().toUpperCase() !== 'DONE') throw bad('Expected DONE');
      return { text: 'IDLE terminated' };
    },
  }),
];
