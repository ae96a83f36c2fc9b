// `sealmail import` through the real CLI: an mbox of 600 messages (one with
// "From " lines in its body, one with broken MIME, one CRLF and 8-bit) and a
// small Maildir go into the running daemon's store through its control
// socket; an IMAP client (imapflow) already in the mailbox sees them arrive,
// byte for byte but with CRLF line ends (the mbox's bare LF is the file's
// newline), with the From_ line dates and the Maildir flags; running the
// import again adds nothing, nor does it over an import made before line
// ends were converted; `sealmail status` shows the last import. With no
// daemon running: import-direct.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlConnection } from '../../src/daemon/control.js';
import { BASE, imapClient, imported, mbox, message } from '../support/import-mail.js';
import { cliEnv, pollStatus, readCliConfig, runCli, runCliInTerminal, startCli, stopDaemonsThenRemoveHome } from '../support/cli.js';

/** A message as IMAP serves it: every line ending in CRLF. */
function crlf(m: Buffer): Buffer {
  return Buffer.from(m.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

/** More than two of the import's batches (256 messages each). */
const N = 600;

test('sealmail import: an mbox and a Maildir reach IMAP byte for byte with dates and flags; a second run adds nothing', { timeout: 240_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  const daemons = stopDaemonsThenRemoveHome(t, home);
  const mboxPath = join(home, 'old.mbox');
  writeFileSync(mboxPath, mbox(N));
  const maildir = join(home, 'Maildir');
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
  const maildirFiles = [
    { name: 'cur/1420448587.M1.host:2,FRS', id: 'md-1', flags: ['\\Answered', '\\Flagged', '\\Seen'], mtime: 1_420_448_587 },
    { name: 'cur/1420448600.M2.host:2,S', id: 'md-2', flags: ['\\Seen'], mtime: 1_420_448_600 },
    { name: 'new/1420448700.M3.host', id: 'md-3', flags: [], mtime: 1_420_448_700 },
  ];
  for (const f of maildirFiles) {
    writeFileSync(join(maildir, f.name), `From: friend@example.org\r\nSubject: maildir ${f.id}\r\nX-Import-Test: ${f.id}\r\n\r\nhello ${f.id}\r\n`);
    utimesSync(join(maildir, f.name), f.mtime, f.mtime);
  }

  daemons.push(await startCli(env));
  const alice = readCliConfig(env).accounts[0]!;
  // A client waiting in INBOX sees the import arrive through the normal change path.
  const watcher = await imapClient(ports.imap, alice.address, alice.localPassword);
  t.after(() => watcher.logout().catch(() => undefined));
  await watcher.mailboxOpen('INBOX');
  const before = watcher.mailbox ? watcher.mailbox.exists : 0;

  const started = Date.now();
  const first = runCli(env, ['import', mboxPath]);
  t.diagnostic(`import of ${N} messages through the daemon: ${Date.now() - started} ms (CLI start included)`);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`importing ${N} messages .* through the running daemon`), first.stdout + first.stderr);
  assert.match(first.stdout, new RegExp(`imported ${N} messages into INBOX of .*; 0 were already there`), first.stdout + first.stderr);
  const deadline = Date.now() + 30_000;
  while ((watcher.mailbox ? watcher.mailbox.exists : 0) < before + N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.ok(watcher.mailbox && watcher.mailbox.exists >= before + N, `the waiting client saw ${watcher.mailbox ? watcher.mailbox.exists - before : 0} new messages`);

  const md = runCli(env, ['import', '--mailbox', 'Old mail', maildir]);
  assert.equal(md.status, 0, md.stderr);
  assert.match(md.stdout, /imported 3 messages into Old mail/, md.stdout + md.stderr);
  const status = await pollStatus<{ accounts: Array<{ import: { active: boolean; imported: number; mailbox: string } | null }> }>(env, (s) => s.accounts[0]!.import?.mailbox === 'Old mail' && !s.accounts[0]!.import.active);
  // status.json is rewritten every 2 s: until then it may still show the import under way.
  assert.equal(status.accounts[0]!.import!.imported, 3);

  const check = async (): Promise<void> => {
    const c = await imapClient(ports.imap, alice.address, alice.localPassword);
    try {
      const inbox = await imported(c, 'INBOX');
      assert.equal(inbox.size, N);
      for (let i = 0; i < N; i++) {
        const copies = inbox.get(String(i)) ?? [];
        assert.equal(copies.length, 1, `message ${i}: one copy`);
        assert.ok(copies[0]!.raw.equals(crlf(message(i))), `message ${i} byte for byte, with CRLF line ends`);
        assert.equal(copies[0]!.internalDate, BASE + i * 3_600_000, `message ${i}: the From_ line's date`);
        assert.deepEqual(copies[0]!.flags, []);
        // Stored in batches, but UIDs in the mbox's order.
        if (i > 0) assert.ok(copies[0]!.uid > inbox.get(String(i - 1))![0]!.uid, `message ${i}: UID after message ${i - 1}'s`);
      }
      const old = await imported(c, 'Old mail');
      assert.equal(old.size, 3);
      for (const f of maildirFiles) {
        const copies = old.get(f.id) ?? [];
        assert.equal(copies.length, 1);
        assert.deepEqual(copies[0]!.flags, f.flags, `${f.name} flags`);
        assert.equal(copies[0]!.internalDate, f.mtime * 1000, `${f.name} internal date`);
      }
      // RFC822.SIZE counts the CRLF form too (RFC 3501 2.2).
      const lock = await c.getMailboxLock('INBOX');
      try {
        const first = await c.fetchOne(String(inbox.get('1')![0]!.uid), { size: true }, { uid: true });
        assert.equal(first && first.size, crlf(message(1)).length);
      } finally {
        lock.release();
      }
    } finally {
      await c.logout();
    }
  };
  await check();

  // A mailbox imported before line ends were converted holds the mbox's bare-LF bytes under
  // "import:<sha256 of them>:<k>": what the CLI of then sent the daemon, sent here by hand.
  const legacyMessages = [0, 1, 7, 21].map(message);
  const legacyMbox = join(home, 'legacy.mbox');
  writeFileSync(legacyMbox, mbox(22));
  const control = await ControlConnection.open(join(home, '.local/share/sealmail/control.sock'));
  try {
    const progress = JSON.stringify({ active: true, source: legacyMbox, mailbox: 'Legacy', total: 4, done: 0, imported: 0, skipped: 0, startedAt: new Date().toISOString(), finishedAt: null });
    await control.request({ method: 'import.begin', account: alice.address, params: { progress } });
    const messages = legacyMessages.map((raw) => ({ deliveryId: `import:${createHash('sha256').update(raw).digest('hex')}:0`, raw: raw.toString('base64'), flags: [], internalDate: BASE }));
    await control.request({ method: 'import.messages', account: alice.address, params: { mailbox: 'Legacy', messages: JSON.stringify(messages) } });
  } finally {
    control.close();
  }
  const overLegacy = runCli(env, ['import', '--mailbox', 'Legacy', legacyMbox]);
  assert.equal(overLegacy.status, 0, overLegacy.stderr);
  assert.match(overLegacy.stdout, /imported 18 messages into Legacy .*; 4 were already there/, overLegacy.stdout + overLegacy.stderr);
  const lc = await imapClient(ports.imap, alice.address, alice.localPassword);
  try {
    const legacy = await imported(lc, 'Legacy');
    assert.equal(legacy.size, 22);
    for (const i of [0, 1, 7, 21]) assert.ok(legacy.get(String(i))!.length === 1 && legacy.get(String(i))![0]!.raw.equals(message(i)), `message ${i}: the earlier (LF) copy, once`);
    assert.ok(legacy.get('2')![0]!.raw.equals(crlf(message(2))), 'a message new to the mailbox: CRLF');
  } finally {
    await lc.logout();
  }

  // Again, in a terminal (a progress bar): nothing is added.
  const inTerminal = runCliInTerminal(env, ['import', mboxPath]);
  const again = inTerminal ? { status: inTerminal.status, stdout: inTerminal.output, stderr: inTerminal.output } : runCli(env, ['import', mboxPath]);
  assert.equal(again.status, 0, again.stderr);
  if (inTerminal) assert.match(inTerminal.output, new RegExp(`importing \\[[^\\]]*\\] 100% \\| ${N}/${N} messages \\(${N} already there\\)`), inTerminal.output);
  assert.match(again.stdout, new RegExp(`imported 0 messages into INBOX .*; ${N} were already there`), again.stdout + again.stderr);
  await pollStatus<{ accounts: Array<{ import: { active: boolean; mailbox: string } | null }> }>(env, (s) => s.accounts[0]!.import?.mailbox === 'INBOX' && !s.accounts[0]!.import.active);
  const text = runCli(env, ['status']);
  assert.match(text.stdout, new RegExp(`last import into INBOX \\(.*old\\.mbox\\): 0 imported, ${N} already there`), text.stdout + text.stderr);


  const bad = runCli(env, ['import', join(home, 'nothing-here')]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /sealmail: .*nothing-here does not exist/);
});
