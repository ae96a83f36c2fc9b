// Issue #10: an APPEND whose store write fails partway through the message
// (the disk fills while a 1 MB literal streams in) hung the connection. The
// store reads the literal through an async iterator and stops at the error;
// that iterator's 'readable' listener stayed on the stream, so the
// connection's resume() (to discard the rest) did nothing and the literal
// never ended. Expected: NO [OVERQUOTA] at once, the session goes on, and
// the same APPEND works once the store takes writes again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startImapServer } from '../../src/imap/server.js';
import type { MailStore } from '../../src/mail/mailstore.js';
import { connect } from '../support/raw-imap.js';
import { createMemoryMailStore } from '../support/memory-mailstore.js';

test('APPEND whose store write fails mid-message: NO [OVERQUOTA], no hang, then OK', { timeout: 60_000 }, async (t) => {
  const store = await createMemoryMailStore();
  let diskFull = true;
  let readBeforeFailing = 0;
  const failing = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'append') {
        return async (...args: Parameters<MailStore['append']>) => {
          if (!diskFull) return target.append(...args);
          // As the real store does: read the message chunk by chunk, and the first write fails.
          const source = args[1] as AsyncIterable<Buffer>;
          const it = source[Symbol.asyncIterator]();
          readBeforeFailing = ((await it.next()).value as Buffer).length;
          throw new Error('IO error: /data/store/main/000005.log: No space left on device');
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
  const body = randomBytes(768 * 1024).toString('base64').replace(/.{76}/g, '$&\r\n');
  const message = Buffer.from(`Subject: big\r\nMessage-ID: <big@x>\r\n\r\n${body}\r\n`, 'latin1');
  const refused = await c.command('APPEND INBOX {}', [message]);
  assert.match(refused.tagged, /^NO \[OVERQUOTA\]/);
  assert.ok(readBeforeFailing > 0 && readBeforeFailing < message.length, 'the store stopped partway through the message');
  diskFull = false;
  assert.match(await c.append('INBOX', message), /^OK/);
  const stored = (await store.messages('INBOX')).messages;
  assert.equal(stored.length, 1, 'the message is there once');
  assert.equal(stored[0]!.size, message.length);
});
