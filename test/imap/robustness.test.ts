// A misbehaving client never disturbs another session; internal errors end a
// command, not the session; limits end abusive connections with BYE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startHarness, RawConnection } from './harness.js';
import { createDefaultRegistry } from '../../src/imap/commands/index.js';
import { defineCommand } from '../../src/imap/command.js';

test('garbage and a huge literal on one connection do not disturb another session', async () => {
  const h = await startHarness({ maxLiteralSize: 100_000 });
  try {
    const good = await h.client();
    const evil = await RawConnection.open(h.server.port);
    await evil.login();
    evil.write(Buffer.from([0, 255, 13, 10, 40, 41, 123, 10]));
    evil.write('x1 LOGIN {99999999999+}\r\n');
    await evil.readUntil(/^\* BYE .*\r\n/m);
    const evil2 = await RawConnection.open(h.server.port);
    evil2.write('y'.repeat(200_000)); // an endless line
    await good.mailboxCreate('Still works');
    const r = await good.append('Still works', 'Subject: ok\r\n\r\nok\r\n');
    assert.ok(r && r.uid === 1);
    assert.ok((await good.list()).some((m) => m.path === 'Still works'));
    evil2.write('\r\nz1 NOOP\r\n');
    assert.match(await evil2.readUntil(/^z1 .*\r\n/m), /z1 OK/);
    evil2.close();
  } finally {
    await h.close();
  }
});

test('an internal error is NO [SERVERBUG] without details, and the session goes on', async () => {
  const registry = createDefaultRegistry().register(
    defineCommand({
      name: 'XBOOM',
      states: ['authenticated'],
      parse: () => undefined,
      async handle() {
        throw new Error('secret internal detail');
      },
    }),
  );
  const h = await startHarness({ registry });
  const raw = await RawConnection.open(h.server.port);
  try {
    await raw.login();
    const r = await raw.command('b1', 'XBOOM');
    assert.match(r, /^b1 NO \[SERVERBUG\] /m);
    assert.doesNotMatch(r, /secret|at /);
    assert.match(await raw.command('b2', 'NOOP'), /b2 OK/);
  } finally {
    raw.close();
    await h.close();
  }
});

test('too many consecutive BAD commands end the connection with BYE', async () => {
  const h = await startHarness({ maxBadCommands: 5 });
  const raw = await RawConnection.open(h.server.port);
  try {
    for (let i = 0; i < 4; i++) assert.match(await raw.command(`b${i}`, 'FROB'), /BAD/);
    assert.match(await raw.command('ok', 'NOOP'), /ok OK/); // a good command resets the count
    for (let i = 0; i < 4; i++) await raw.command(`c${i}`, 'FROB');
    raw.write('c5 FROB\r\n');
    await raw.readUntil(/^\* BYE Too many invalid commands\r\n/m);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(raw.closed);
  } finally {
    raw.close();
    await h.close();
  }
});

test('pipelined commands with a literal are answered in order', async () => {
  const h = await startHarness();
  const raw = await RawConnection.open(h.server.port);
  try {
    await raw.login();
    raw.write('p1 CREATE {3+}\r\nabc\r\np2 NOOP\r\np3 STATUS abc (MESSAGES)\r\np4 DELETE abc\r\n');
    const out = await raw.readUntil(/^p4 .*\r\n/m);
    assert.deepEqual(out.match(/^p\d OK/gm), ['p1 OK', 'p2 OK', 'p3 OK', 'p4 OK']);
    assert.match(out, /\* STATUS "abc" \(MESSAGES 0\)/);
  } finally {
    raw.close();
    await h.close();
  }
});

test('autologout: soon before login, after the idle timeout once authenticated', async () => {
  const h = await startHarness({ idleTimeoutMs: 600, preAuthTimeoutMs: 150 });
  const anon = await RawConnection.open(h.server.port);
  const user = await RawConnection.open(h.server.port);
  try {
    await user.login();
    const t0 = Date.now();
    await anon.readUntil(/^\* BYE Autologout.*\r\n/m, 2000);
    assert.ok(!user.closed, 'the authenticated session is still there');
    await user.readUntil(/^\* BYE Autologout.*\r\n/m, 3000);
    assert.ok(Date.now() - t0 >= 300, 'authenticated sessions get the longer timeout');
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(anon.closed && user.closed);
    assert.equal(h.server.connections(), 0);
  } finally {
    anon.close();
    user.close();
    await h.close();
  }
});

test('random bytes from an authenticated client never crash the server', async () => {
  const h = await startHarness({ maxBadCommands: 1000 });
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 8 }), async (chunks) => {
        const raw = await RawConnection.open(h.server.port);
        await raw.login();
        for (const c of chunks) raw.write(Buffer.from(c));
        // The garbage may legitimately get this connection closed (LOGOUT, an oversized literal);
        // what matters is that the server survives it, checked with a fresh connection below.
        raw.write('\r\n'.repeat(3));
        await new Promise((r) => setTimeout(r, 5));
        raw.close();
      }),
      { numRuns: 40 },
    );
    const after = await RawConnection.open(h.server.port);
    await after.login();
    assert.match(await after.command('z', 'LIST "" INBOX'), /z OK/);
    after.close();
  } finally {
    await h.close();
  }
});

test('three failed logins on one connection end it with BYE', async () => {
  const h = await startHarness();
  const raw = await RawConnection.open(h.server.port);
  try {
    assert.match(await raw.command('l1', 'LOGIN alice@example.org wrong1'), /l1 NO \[AUTHENTICATIONFAILED\]/);
    assert.match(await raw.command('l2', 'LOGIN alice@example.org wrong2'), /l2 NO \[AUTHENTICATIONFAILED\]/);
    raw.write('l3 LOGIN alice@example.org wrong3\r\n');
    await raw.readUntil(/^\* BYE Too many authentication failures\r\n/m);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(raw.closed);
  } finally {
    raw.close();
    await h.close();
  }
});

test('a store that gives up halfway through an APPEND upload does not stall the connection', async () => {
  const h = await startHarness();
  // The store reads the first chunk of the message, then fails (as on a quota or I/O error).
  const failing = new Proxy(h.store, {
    get(target, prop) {
      if (prop === 'append') {
        return async (_mailbox: string, source: AsyncIterable<Buffer>) => {
          await new Promise((r) => setTimeout(r, 200)); // let the upload fill the stream's buffer first
          for await (const chunk of source) {
            void chunk;
            break;
          }
          throw new Error('disk full');
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const { startImapServer } = await import('../../src/imap/server.js');
  const server = await startImapServer({ authenticate: async () => failing });
  const raw = await RawConnection.open(server.port);
  try {
    await raw.login();
    const size = 3 * 1024 * 1024;
    raw.write(`a1 APPEND INBOX {${size}+}\r\n`);
    raw.write(Buffer.alloc(size, 'x'));
    raw.write('\r\na2 NOOP\r\n');
    const out = await raw.readUntil(/^a2 .*\r\n/m, 10_000);
    assert.match(out, /^a1 NO \[SERVERBUG\]/m);
    assert.match(out, /^a2 OK/m);
  } finally {
    raw.close();
    await server.close();
    await h.close();
  }
});

test('every store subscription ends with its connection, even one closed during a slow login', async () => {
  const h = await startHarness();
  let live = 0;
  const counting = new Proxy(h.store, {
    get(target, prop) {
      if (prop === 'subscribe') {
        return (listener: Parameters<typeof target.subscribe>[0]) => {
          live++;
          const off = target.subscribe(listener);
          return () => {
            live--;
            off();
          };
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const { startImapServer } = await import('../../src/imap/server.js');
  const server = await startImapServer({
    authenticate: async () => {
      await new Promise((r) => setTimeout(r, 100));
      return counting;
    },
  });
  try {
    const quitter = await RawConnection.open(server.port);
    quitter.write('l1 LOGIN a b\r\n');
    await new Promise((r) => setTimeout(r, 20));
    quitter.close();
    const stayer = await RawConnection.open(server.port);
    await stayer.login();
    assert.equal(live, 1);
    stayer.close();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(live, 0);
  } finally {
    await server.close();
    await h.close();
  }
});

test('a connection dropped while an APPEND upload is still queued does not crash the server', async () => {
  const h = await startHarness();
  const slow = new Proxy(h.store, {
    get(target, prop) {
      if (prop === 'listMailboxes') {
        return async () => {
          await new Promise((r) => setTimeout(r, 300));
          return target.listMailboxes();
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const { startImapServer } = await import('../../src/imap/server.js');
  const server = await startImapServer({ authenticate: async () => slow });
  try {
    const raw = await RawConnection.open(server.port);
    await raw.login();
    // The APPEND is parsed (its literal half-sent) while LIST is still running; then the client vanishes.
    raw.write('l1 LIST "" "*"\r\na1 APPEND INBOX {100+}\r\n0123456789');
    await new Promise((r) => setTimeout(r, 50));
    raw.socket.destroy();
    await new Promise((r) => setTimeout(r, 400));
    const next = await RawConnection.open(server.port);
    await next.login();
    assert.match(await next.command('n1', 'NOOP'), /n1 OK/);
    next.close();
  } finally {
    await server.close();
    await h.close();
  }
});
