// A store write that fails because the disk is full (LevelDB's "IO error:
// ...: No space left on device") is answered as Dovecot answers it,
// NO [OVERQUOTA] (RFC 5530 3), not as an internal server error; the session
// goes on, and the same APPEND works once the store takes writes again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer } from '../../src/imap/server.js';
import type { MailStore } from '../../src/mail/mailstore.js';
import { connect } from '../support/raw-imap.js';
import { createMemoryMailStore } from '../support/memory-mailstore.js';

test('APPEND on a full disk: NO [OVERQUOTA], then OK once there is space', async (t) => {
  const store = await createMemoryMailStore();
  let diskFull = true;
  const failing = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'append') {
        return async (...args: Parameters<MailStore['append']>) => {
          if (diskFull) throw new Error('IO error: /data/store/main/000005.ldb: No space left on device');
          return target.append(...args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const server = await startImapServer({ port: 0, failedLoginDelayMs: 0, authenticate: async (u, p) => (u === 'a' && p === 'b' ? failing : null) });
  t.after(async () => {
    await server.close();
    await store.close();
  });
  const c = await connect('127.0.0.1', server.port);
  t.after(() => c.close());
  await c.login('a', 'b');
  const message = Buffer.from('Subject: full\r\nMessage-ID: <full@x>\r\n\r\nbody\r\n');
  const refused = await c.command('APPEND INBOX {}', [message]);
  assert.match(refused.tagged, /^NO \[OVERQUOTA\] Not enough disk space/);
  diskFull = false;
  assert.match(await c.append('INBOX', message), /^OK/);
  assert.equal((await store.messages('INBOX')).messages.length, 1);
});
