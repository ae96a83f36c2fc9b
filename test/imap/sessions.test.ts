// Several sessions on one mailbox: changes reach the others only at legal
// moments (RFC 3501 5.2, 7.4.1), at once while IDLE (RFC 2177).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, RawConnection, type Harness } from './harness.js';

const msg = (i: number): Buffer => Buffer.from(`Subject: m${i}\r\n\r\nbody ${i}\r\n`);

async function setup(n: number): Promise<{ h: Harness; a: RawConnection }> {
  const h = await startHarness();
  for (let i = 1; i <= n; i++) await h.store.append('INBOX', msg(i));
  const a = await RawConnection.open(h.server.port);
  await a.login();
  await a.command('s', 'SELECT INBOX');
  return { h, a };
}

test('EXPUNGE from elsewhere is held back during FETCH/STORE/SEARCH and sent at NOOP; EXISTS and flag changes are not held', async () => {
  const { h, a } = await setup(3);
  try {
    await h.store.expunge('INBOX', [2]);
    await h.store.append('INBOX', msg(4));
    await h.store.storeFlags('INBOX', [3], 'add', ['\\Flagged']);
    await new Promise((r) => setTimeout(r, 20));
    const fetch = await a.command('f1', 'FETCH 1:* (UID FLAGS)');
    assert.doesNotMatch(fetch, /EXPUNGE/, 'no EXPUNGE during FETCH');
    assert.match(fetch, /^\* 4 EXISTS/m, 'EXISTS may follow any command');
    assert.match(fetch, /^\* 3 FETCH \(UID 3 FLAGS \(\\Flagged\)\)\r\n(.*\r\n)*\* 3 FETCH \(UID 3 FLAGS \(\\Flagged\)\)/m, 'the flag change is announced too');
    assert.match(fetch, /^\* 3 FETCH \(UID 3 FLAGS \(\\Flagged\)\)/m, 'and FETCH itself sees it');
    // Sequence numbers stay as the client knows them: message 2 is still there for it.
    assert.match(fetch, /^\* 2 FETCH \(UID 2 FLAGS \(\)\)/m);
    assert.doesNotMatch(await a.command('s1', 'SEARCH ALL'), /EXPUNGE/);
    assert.doesNotMatch(await a.command('t1', 'STORE 1 +FLAGS.SILENT (\\Seen)'), /EXPUNGE/);
    const noop = await a.command('n1', 'NOOP');
    assert.match(noop, /^\* 2 EXPUNGE\r\n/m);
    const after = await a.command('f2', 'FETCH 1:* (UID)');
    assert.deepEqual(after.match(/UID \d+/g), ['UID 1', 'UID 3', 'UID 4']);
  } finally {
    a.close();
    await h.close();
  }
});

test('UID FETCH may carry the pending EXPUNGE (RFC 3501 7.4.1 note)', async () => {
  const { h, a } = await setup(2);
  try {
    await h.store.expunge('INBOX', [1]);
    await new Promise((r) => setTimeout(r, 20));
    const r = await a.command('u1', 'UID FETCH 1:* (FLAGS)');
    assert.match(r, /^\* 1 EXPUNGE\r\n/m);
  } finally {
    a.close();
    await h.close();
  }
});

test('IDLE delivers EXPUNGE, EXISTS and FETCH FLAGS as they happen, and ends with DONE', async () => {
  const { h, a } = await setup(2);
  try {
    a.write('i1 IDLE\r\n');
    await a.readUntil(/^\+ idling\r\n/m);
    await h.store.append('INBOX', msg(3));
    await a.readUntil(/^\* 3 EXISTS\r\n/m, 1000);
    await h.store.storeFlags('INBOX', [1], 'add', ['\\Seen']);
    await a.readUntil(/^\* 1 FETCH \(UID 1 FLAGS \(\\Seen\)\)\r\n/m, 1000);
    await h.store.expunge('INBOX', [2]);
    await a.readUntil(/^\* 2 EXPUNGE\r\n/m, 1000);
    a.write('DONE\r\n');
    assert.match(await a.readUntil(/^i1 .*\r\n/m), /i1 OK/);
    assert.match(await a.command('n1', 'NOOP'), /^n1 OK/);
  } finally {
    a.close();
    await h.close();
  }
});

test('a session\'s own STORE is not echoed again as an unsolicited FETCH', async () => {
  const { h, a } = await setup(1);
  try {
    const store = await a.command('t1', 'STORE 1 +FLAGS (\\Answered)');
    assert.equal(store.match(/\* 1 FETCH/g)?.length, 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.doesNotMatch(await a.command('n1', 'NOOP'), /FETCH/);
  } finally {
    a.close();
    await h.close();
  }
});

test('QRESYNC: ENABLE, SELECT with known UIDs reports VANISHED (EARLIER) and changed flags', async () => {
  const { h, a } = await setup(3);
  try {
    const sel = await a.command('s0', 'SELECT INBOX');
    const uv = /UIDVALIDITY (\d+)/.exec(sel)![1];
    const ms = Number(/HIGHESTMODSEQ (\d+)/.exec(sel)![1]);
    await a.command('u0', 'UNSELECT');
    assert.match(await a.command('e1', 'ENABLE QRESYNC'), /^\* ENABLED QRESYNC\r\n/m);
    await h.store.expunge('INBOX', [2]);
    await h.store.storeFlags('INBOX', [3], 'add', ['\\Flagged']);
    const r = await a.command('s1', `SELECT INBOX (QRESYNC (${uv} ${ms} 1:3))`);
    assert.match(r, /^\* VANISHED \(EARLIER\) 2\r\n/m);
    assert.match(r, /^\* 2 FETCH \(UID 3 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)/m);
    assert.doesNotMatch(r, /UID 1 FLAGS/);
    // Without known UIDs, every absent UID below UIDNEXT is reported (RFC 7162 3.2.5.1 allows it).
    await h.store.append('INBOX', msg(4));
    await h.store.append('INBOX', msg(5));
    await h.store.expunge('INBOX', [4]);
    const r2 = await a.command('s1b', `SELECT INBOX (QRESYNC (${uv} ${ms}))`);
    assert.match(r2, /^\* VANISHED \(EARLIER\) 2,4\r\n/m);
    // With QRESYNC on, expunges from elsewhere arrive as VANISHED, and re-SELECT first says [CLOSED].
    await h.store.expunge('INBOX', [1]);
    await new Promise((r) => setTimeout(r, 20));
    assert.match(await a.command('n1', 'NOOP'), /^\* VANISHED 1\r\n/m);
    assert.match(await a.command('s2', 'SELECT INBOX'), /^\* OK \[CLOSED\]/);
  } finally {
    a.close();
    await h.close();
  }
});

test('APPEND into the selected mailbox reports the new EXISTS before its tagged OK', async () => {
  const { h, a } = await setup(1);
  try {
    const m = msg(2);
    a.write(`a1 APPEND INBOX {${m.length}+}\r\n`);
    a.write(Buffer.concat([m, Buffer.from('\r\n')]));
    const r = await a.readUntil(/^a1 .*\r\n/m);
    assert.match(r, /^\* 2 EXISTS\r\na1 OK \[APPENDUID \d+ 2\]/m);
  } finally {
    a.close();
    await h.close();
  }
});

test('a message arriving while SELECT takes its snapshot is announced, not lost', async () => {
  const h = await startHarness();
  let injected = false;
  // The store answers SELECT's snapshot, then a message arrives before the command completes.
  const racing = new Proxy(h.store, {
    get(target, prop) {
      if (prop === 'messages') {
        return async (name: string) => {
          const snapshot = await target.messages(name);
          if (!injected) {
            injected = true;
            await target.append('INBOX', msg(2));
          }
          return snapshot;
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const { startImapServer } = await import('../../src/imap/server.js');
  const server = await startImapServer({ authenticate: async () => racing });
  const a = await RawConnection.open(server.port);
  try {
    await h.store.append('INBOX', msg(1));
    await a.login();
    const sel = await a.command('s1', 'SELECT INBOX');
    assert.ok(injected);
    assert.match(sel, /^\* 1 EXISTS/m);
    assert.match(sel, /^\* 2 EXISTS/m, 'the message that arrived during the snapshot is announced');
  } finally {
    a.close();
    await server.close();
    await h.close();
  }
});

test('DELETE of the selected mailbox: tagged OK, then BYE (like Dovecot); a second session on it is disconnected too', async () => {
  const h = await startHarness();
  const a = await RawConnection.open(h.server.port);
  const b = await RawConnection.open(h.server.port);
  try {
    await a.login();
    await b.login();
    await a.command('c1', 'CREATE Doomed');
    await a.command('s1', 'SELECT Doomed');
    await b.command('s2', 'SELECT Doomed');
    b.write('i1 IDLE\r\n');
    await b.readUntil(/^\+ idling\r\n/m);
    a.write('d1 DELETE Doomed\r\n');
    assert.match(await a.readUntil(/^\* BYE .*\r\n/m), /^d1 OK .*\r\n\* BYE Selected mailbox was deleted/m);
    await b.readUntil(/^\* BYE Selected mailbox was deleted.*\r\n/m, 2000);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(a.closed && b.closed);
    assert.ok(!(await h.store.listMailboxes()).some((m) => m.name === 'Doomed'));
  } finally {
    a.close();
    b.close();
    await h.close();
  }
});
