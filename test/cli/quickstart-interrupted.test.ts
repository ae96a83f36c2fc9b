// The quickstart's first start, interrupted.
//
// SIGTERM during the quickstart's first `sealmail start`, while its new
// accounts are created: the daemon closes once it is up (exit 0, lock released) and
// the configuration is saved, since the accounts now exist at the embedded
// provider and in the data dir; without it the next start refused their data
// ("holds account data but ... config.json is missing"). The next start then
// finds both accounts with their snapshots, and IMAP takes the saved password.
// Likewise when the first start fails after the accounts were created (the
// IMAP port taken after the daemon's pre-flight found it free): the
// configuration is kept, and the next start serves them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { assertImapLogin, imapClient } from '../support/import-mail.js';
import { cliEnv, indexReadyLines, readCliConfig, spawnCliStart, startCli, stopDaemonsThenRemoveHome } from '../support/cli.js';

/** The subjects in the account's INBOX once it holds `count` messages (polled up to 45 s). */
async function inboxSubjects(port: number, account: { address: string; localPassword: string }, count: number): Promise<string[]> {
  const c = await imapClient(port, account.address, account.localPassword);
  try {
    const deadline = Date.now() + 45_000;
    const messages = async (): Promise<number> => {
      const st = await c.status('INBOX', { messages: true });
      return st ? (st.messages ?? 0) : 0;
    };
    while ((await messages()) < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 300));
    const lock = await c.getMailboxLock('INBOX');
    try {
      const subjects: string[] = [];
      for await (const m of c.fetch('1:*', { envelope: true })) subjects.push(m.envelope?.subject ?? '');
      return subjects;
    } finally {
      lock.release();
    }
  } finally {
    await c.logout();
  }
}

test('SIGTERM during the quickstart: exit 0, lock released, configuration saved; the next start serves the accounts', { timeout: 180_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  const daemons = stopDaemonsThenRemoveHome(t, home);
  const dataDir = join(home, '.local', 'share', 'sealmail');

  const first = spawnCliStart(env);
  daemons.push(first);
  const deadline = Date.now() + 90_000;
  // Once the embedded provider has registered an account: seconds before the start ends (store and key creation follow).
  while (!first.stderr().includes('"msg":"account registered"') && first.child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  first.child.kill('SIGTERM');
  assert.deepEqual(await first.exited, { code: 0, signal: null }, `a clean exit\n${first.stderr()}`);
  assert.match(first.stderr(), /shutting down once started/, 'the signal came during the start');
  assert.doesNotMatch(first.stdout(), /sealmail is running/, 'it did not go on to serve');
  assert.ok(!existsSync(join(dataDir, 'daemon.pid')) && !existsSync(join(dataDir, 'daemon.lock')), 'the lock is released');
  const config = readCliConfig(env);
  assert.deepEqual(config.accounts.map((a) => a.address).sort(), ['alice@sealmail.localhost', 'demo@sealmail.localhost']);

  const next = await startCli(env);
  daemons.push(next);
  assert.doesNotMatch(next.stderr(), /did not stop cleanly/);
  assert.deepEqual(indexReadyLines(next.stderr()).map((r) => r.snapshot), [true, true], 'both accounts closed with their index snapshot');
  const alice = config.accounts.find((a) => a.address.startsWith('alice@'))!;
  await assertImapLogin(ports.imap, alice); // with the saved password
  // The first start never got to the welcome message: this one sends it, and prints the password it was never shown.
  assert.match(next.stdout(), /welcome message .* is on its way/);
  assert.ok(next.stdout().includes(alice.localPassword));
  assert.deepEqual(await inboxSubjects(ports.imap, alice, 1), ['Welcome to sealmail']);
  assert.equal(await next.stop(), 0);
});

test('a quickstart whose first start fails once its accounts exist (IMAP port taken after the pre-flight) keeps its configuration; the next start serves them', { timeout: 180_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  const daemons = stopDaemonsThenRemoveHome(t, home);
  // A port taken before the start is found by the pre-flight, before any
  // account exists (test/cli/port-in-use.test.ts). This one is taken once
  // the embedded provider registered an account: seconds before IMAP listens.
  const first = spawnCliStart(env);
  daemons.push(first);
  const deadline = Date.now() + 90_000;
  while (!first.stderr().includes('"msg":"account registered"') && first.child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(ports.imap, '127.0.0.1', resolve));
  const failed = await first.exited;
  squatter.close();
  assert.equal(failed.code, 1, first.stderr());
  const lines = first.stderr().split('\n').filter((l) => l && !l.startsWith('{'));
  assert.equal(lines.length, 1, first.stderr());
  assert.match(lines[0]!, new RegExp(`^sealmail: port ${ports.imap} on 127\\.0\\.0\\.1 is already in use; .* \\(the quickstart's accounts are set up and kept in .*config\\.json; start again once that is fixed\\)$`));
  const config = readCliConfig(env);
  assert.equal(config.accounts.length, 2);

  const next = await startCli(env);
  daemons.push(next);
  const alice = config.accounts.find((a) => a.address.startsWith('alice@'))!;
  await assertImapLogin(ports.imap, alice); // with the saved password
  assert.deepEqual(await inboxSubjects(ports.imap, alice, 1), ['Welcome to sealmail'], 'the welcome message the failed start did not send');
  assert.equal(await next.stop(), 0);
  // Sent once: a later start does not send it again.
  const again = await startCli(env);
  daemons.push(again);
  assert.doesNotMatch(again.stdout(), /welcome message/);
  assert.deepEqual(await inboxSubjects(ports.imap, alice, 1), ['Welcome to sealmail']);
  assert.equal(await again.stop(), 0);
});
