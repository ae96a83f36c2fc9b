// Bytes after an APPEND message on its line, arriving in separate packets,
// used to crash the whole IMAP server (the fuzz test hit it: a TypeError in
// the parser's tag guess for the skipped rest of the line, uncaught in the
// socket's data handler). Now the APPEND gets its BAD, the rest of the line
// is skipped without a second answer, and the session goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startImapServer } from '../../src/imap/server.js';
import { createMemoryMailStore } from '../support/memory-mailstore.js';

test('garbage after an APPEND message, in separate packets: BAD for the APPEND, the server and the session go on', async (t) => {
  const store = await createMemoryMailStore();
  const server = await startImapServer({ port: 0, failedLoginDelayMs: 0, authenticate: async (u, p) => (u === 'a' && p === 'b' ? store : null) });
  t.after(async () => {
    await server.close();
    await store.close();
  });
  const socket = net.connect(server.port, '127.0.0.1');
  t.after(() => socket.destroy());
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  const until = async (re: RegExp): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (!re.test(received)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; got ${JSON.stringify(received)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until(/^\* OK/);
  socket.write('1 LOGIN a b\r\n');
  await until(/\r\n1 OK/);
  for (const part of ['2 APPEND INBOX {5+}\r\nhello', 'X', 'YZ', 'W more garbage', ' after it\r\n3 NOOP\r\n']) {
    socket.write(part);
    await new Promise((r) => setTimeout(r, 50));
  }
  await until(/\r\n3 OK/);
  const after = received.slice(received.indexOf('\r\n1 OK'));
  assert.match(after, /\r\n2 BAD [^\r\n]*\r\n3 OK/, 'the APPEND gets BAD, then NOOP its OK, with nothing in between');
  // A second connection works too: the server is still there.
  const second = await new Promise<string>((resolve, reject) => {
    const s = net.connect(server.port, '127.0.0.1');
    s.once('data', (d: Buffer) => {
      resolve(d.toString('latin1'));
      s.destroy();
    });
    s.once('error', reject);
  });
  assert.match(second, /^\* OK/);
});
