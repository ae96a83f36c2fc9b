// A store write that fails because the disk is full (LevelDB's "IO error:
// ...: No space left on device") is answered as Dovecot answers it,
// NO [OVERQUOTA] (RFC 5530 3), not as an internal server error; the session
// goes on, and the same APPEND works once the store takes writes again.
// Issue #10: an APPEND whose write failed partway through the message (the
// disk fills while a 1 MB literal streams in) hung the connection: the store
// reads the literal through an async iterator and stops at the error; that
// iterator's 'readable' listener stayed on the stream, so the connection's
// resume() (to discard the rest) did nothing and the literal never ended.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startImapServer } from '../../src/imap/server.js';
import type { MailStore } from '../../src/mail/mailstore.js';
import { connect } from '../support/raw-imap.js';
import { createMemoryMailStore } from '../support/memory-mailstore.js';

/** An IMAP server over a memory store whose append, while `disk.full`, runs `whenFull` instead. */
async function serverWithFullDisk(t: TestContext, whenFull: (source: AsyncIterable<Buffer> | Buffer) => Promise<never>) {
  const store = await createMemoryMailStore();
  const disk = { full: true };
  const failing = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'append') {
        return async (...args: Parameters<MailStore['append']>) => (disk.full ? whenFull(args[1]) : target.append(...args));
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
  return { store, disk, c };
}

test('APPEND on a full disk: NO [OVERQUOTA], then OK once there is space', async (t) => {
  const { store, disk, c } = await serverWithFullDisk(t, async () => {
    throw new Error('IO error: /data/store/main/000005.ldb: No space left on device');
  });
  const message = Buffer.from('Subject: full\r\nMessage-ID: <full@x>\r\n\r\nbody\r\n');
  const refused = await c.command('APPEND INBOX {}', [message]);
  assert.match(refused.tagged, /^NO \[OVERQUOTA\] Not enough disk space/);
  disk.full = false;
  assert.match(await c.append('INBOX', message), /^OK/);
  assert.equal((await store.messages('INBOX')).messages.length, 1);
});

test('APPEND whose store write fails mid-message: NO [OVERQUOTA], no hang, then OK', { timeout: 60_000 }, async (t) => {
  let readBeforeFailing = 0;
  // As the real store does: read the message chunk by chunk, and the first write fails.
  const { store, disk, c } = await serverWithFullDisk(t, async (source) => {
    const it = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    readBeforeFailing = ((await it.next()).value as Buffer).length;
    throw new Error('IO error: /data/store/main/000005.log: No space left on device');
  });
  const body = randomBytes(768 * 1024).toString('base64').replace(/.{76}/g, '$&\r\n');
  const message = Buffer.from(`Subject: big\r\nMessage-ID: <big@x>\r\n\r\n${body}\r\n`, 'latin1');
  const refused = await c.command('APPEND INBOX {}', [message]);
  assert.match(refused.tagged, /^NO \[OVERQUOTA\]/);
  assert.ok(readBeforeFailing > 0 && readBeforeFailing < message.length, 'the store stopped partway through the message');
  disk.full = false;
  assert.match(await c.append('INBOX', message), /^OK/);
  const stored = (await store.messages('INBOX')).messages;
  assert.equal(stored.length, 1, 'the message is there once');
  assert.equal(stored[0]!.size, message.length);
});
