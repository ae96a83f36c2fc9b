// Black-box tests of the mailbox-level commands with a real client (imapflow)
// over TCP, against the real store code in memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { ImapFlow } from 'imapflow';
import { startHarness, RawConnection, USER } from './harness.js';

const MESSAGE = 'From: bob@example.org\r\nTo: alice@example.org\r\nSubject: hello\r\n\r\nHi Alice\r\n';

test('LOGIN: wrong password is NO [AUTHENTICATIONFAILED], right one works (imapflow)', async () => {
  const h = await startHarness();
  try {
    const bad = new ImapFlow({ host: '127.0.0.1', port: h.server.port, secure: false, auth: { user: USER, pass: 'wrong' }, logger: false });
    bad.on('error', () => undefined);
    await assert.rejects(bad.connect(), (err: Error & { authenticationFailed?: boolean; serverResponseCode?: string }) => {
      assert.equal(err.serverResponseCode, 'AUTHENTICATIONFAILED');
      return true;
    });
    const c = await h.client();
    assert.ok(c.authenticated);
    assert.ok(c.capabilities.has('IDLE'));
    assert.ok(!c.capabilities.has('STARTTLS'), 'no STARTTLS without a certificate');
  } finally {
    await h.close();
  }
});

test('LIST, CREATE, RENAME, DELETE, SUBSCRIBE (imapflow)', async () => {
  const h = await startHarness();
  try {
    const c = await h.client();
    const names = (await c.list()).map((m) => m.path);
    assert.ok(names.includes('INBOX'));
    await c.mailboxCreate(['Projects', 'Alpha']);
    await c.mailboxCreate('Été 2024');
    let list = await c.list();
    const alpha = list.find((m) => m.path === 'Projects/Alpha');
    assert.ok(alpha, 'nested mailbox listed');
    assert.ok(list.find((m) => m.path === 'Projects')?.flags.has('\\HasChildren'), 'implied parent has children');
    assert.ok(list.find((m) => m.path === 'Été 2024'), 'non-ASCII name round-trips through modified UTF-7');
    // imapflow reports NO [ALREADYEXISTS] as created: false.
    assert.equal((await c.mailboxCreate('Projects/Alpha')).created, false);
    await c.mailboxRename('Projects/Alpha', 'Projects/Beta');
    list = await c.list();
    assert.ok(list.find((m) => m.path === 'Projects/Beta'));
    assert.ok(!list.find((m) => m.path === 'Projects/Alpha'));
    await c.mailboxSubscribe('Projects/Beta');
    const subscribed = await c.list({ statusQuery: undefined });
    assert.ok(subscribed.find((m) => m.path === 'Projects/Beta')?.subscribed);
    await c.mailboxUnsubscribe('Projects/Beta');
    assert.ok(!(await c.list()).find((m) => m.path === 'Projects/Beta')?.subscribed);
    await c.mailboxDelete('Projects/Beta');
    assert.ok(!(await c.list()).find((m) => m.path === 'Projects/Beta'));
    await assert.rejects(c.mailboxDelete('INBOX'));
  } finally {
    await h.close();
  }
});

test('APPEND with flags and date gives APPENDUID; STATUS and SELECT agree (imapflow)', async () => {
  const h = await startHarness();
  try {
    const c = await h.client();
    const date = new Date('2024-03-05T09:00:00Z');
    const r1 = await c.append('INBOX', MESSAGE, ['\\Seen', '$Important'], date);
    const r2 = await c.append('INBOX', MESSAGE.replace('hello', 'again'));
    assert.ok(r1 && r2);
    assert.equal(r2.uid, (r1.uid ?? 0) + 1);
    assert.ok((r1.uidValidity ?? 0n) > 0n);
    const st = await c.status('INBOX', { messages: true, unseen: true, uidNext: true, uidValidity: true, highestModseq: true });
    assert.ok(st, 'STATUS answered');
    assert.equal(st.messages, 2);
    assert.equal(st.unseen, 1);
    assert.equal(st.uidNext, (r2.uid ?? 0) + 1);
    assert.equal(BigInt(st.uidValidity ?? 0), BigInt(r1.uidValidity ?? 0));
    const box = await c.mailboxOpen('INBOX');
    assert.equal(box.exists, 2);
    assert.equal(box.uidNext, st.uidNext);
    assert.ok(box.flags.has('$Important'), 'keywords in use are in FLAGS');
    assert.ok(box.permanentFlags?.has('\\*'));
    const meta = (await h.store.messages('INBOX')).messages;
    assert.equal(meta[0]!.internalDate, date.getTime());
    assert.deepEqual([...meta[0]!.flags].sort(), ['$Important', '\\Seen']);
    await assert.rejects(c.append('Nope', MESSAGE), (err: Error & { serverResponseCode?: string }) => err.serverResponseCode === 'TRYCREATE');
  } finally {
    await h.close();
  }
});

test('IDLE: a session gets EXISTS at once when another connection appends (imapflow)', async () => {
  const h = await startHarness();
  try {
    const a = await h.client();
    const b = await h.client();
    await a.mailboxOpen('INBOX');
    const seen = new Promise<number>((resolve) => a.on('exists', (d: { count: number }) => resolve(d.count)));
    const idling = a.idle();
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await b.append('INBOX', MESSAGE);
    assert.equal(await seen, 1);
    assert.ok(Date.now() - t0 < 1000, 'delivered within 1 s');
    await a.noop(); // ends IDLE with DONE
    await idling;
  } finally {
    await h.close();
  }
});

test('STARTTLS with a self-signed certificate; plaintext LOGIN refused on a non-loopback policy (imapflow)', async () => {
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048 });
  const h = await startHarness({ tls: { key: pems.private, cert: pems.cert }, allowPlaintextAuth: 'never' });
  try {
    const raw = await RawConnection.open(h.server.port);
    const caps = await raw.command('c1', 'CAPABILITY');
    assert.match(caps, /STARTTLS/);
    assert.match(caps, /LOGINDISABLED/);
    assert.doesNotMatch(caps, /AUTH=PLAIN/);
    assert.match(await raw.command('l1', 'LOGIN a b'), /l1 NO \[PRIVACYREQUIRED\]/);
    raw.close();
    // Commands pipelined after STARTTLS in plaintext are discarded, never run inside TLS (RFC 3501 6.2.1).
    const plain = await RawConnection.open(h.server.port);
    plain.write('t1 STARTTLS\r\nx1 CAPABILITY\r\n');
    await plain.readUntil(/^t1 OK .*\r\n/m);
    const secure = tls.connect({ socket: plain.socket, rejectUnauthorized: false });
    secure.on('error', () => undefined);
    await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    let received = '';
    secure.on('data', (d: Buffer) => (received += d.toString()));
    secure.write('t2 NOOP\r\n');
    for (let i = 0; i < 100 && !/^t2 OK/m.test(received); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(received, /^t2 OK/m);
    assert.doesNotMatch(received, /x1|CAPABILITY/);
    secure.destroy();
    const c = await h.client({ doSTARTTLS: true, tls: { rejectUnauthorized: false } });
    assert.ok(c.secureConnection, 'upgraded to TLS');
    assert.ok(c.authenticated);
    assert.ok(!c.capabilities.has('STARTTLS'));
    const list = await c.list();
    assert.ok(list.some((m) => m.path === 'INBOX'));
  } finally {
    await h.close();
  }
});

test('APPEND of a ~5 MB message with a non-synchronizing literal is stored byte-exact (imapflow LITERAL+)', async () => {
  const h = await startHarness();
  try {
    const c = await h.client();
    const line = 'x'.repeat(76) + '\r\n';
    const body = Buffer.from('Subject: big\r\n\r\n' + line.repeat(Math.ceil((5 * 1024 * 1024) / line.length)));
    const res = await c.append('INBOX', body);
    assert.ok(res && res.uid);
    const { messages } = await h.store.messages('INBOX');
    assert.equal(messages[0]!.size, body.length);
    const chunks: Buffer[] = [];
    for await (const chunk of h.store.read(messages[0]!.hash)) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(body));
  } finally {
    await h.close();
  }
});

test('ID, NAMESPACE, ENABLE, EXAMINE, NOOP, CLOSE as imapflow uses them', async () => {
  const h = await startHarness();
  try {
    await h.store.append('INBOX', Buffer.from(MESSAGE), { flags: ['\\Deleted'] });
    await h.store.append('INBOX', Buffer.from(MESSAGE));
    const c = await h.client({ qresync: true } as object);
    assert.equal(c.serverInfo?.name, 'sealmail', 'ID answered');
    assert.equal(c.namespace?.delimiter, '/');
    assert.ok(c.enabled.has('CONDSTORE') || c.enabled.has('QRESYNC'), `ENABLE took effect: ${[...c.enabled].join(',')}`);
    const ro = await c.mailboxOpen('INBOX', { readOnly: true });
    assert.equal(ro.readOnly, true);
    assert.equal(ro.exists, 2);
    await c.noop();
    await c.mailboxClose(); // CLOSE on a read-only mailbox expunges nothing
    assert.equal((await h.store.status('INBOX')).messages, 2);
    await c.mailboxOpen('INBOX');
    await c.mailboxClose(); // now it expunges the \Deleted message silently
    assert.equal((await h.store.status('INBOX')).messages, 1);
  } finally {
    await h.close();
  }
});
