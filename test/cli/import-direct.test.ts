// `sealmail import` with no daemon running, through the real CLI: the
// account's store is opened by the CLI itself (under the daemon's lock, with
// the passphrase), the messages are stored byte for byte (but with CRLF line
// ends), a second run adds nothing, and the daemon started afterwards serves them over IMAP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASE, imapClient, imported, mbox, message } from '../support/import-mail.js';
import { cliEnv, readCliConfig, runCli, startCli, stopDaemonsThenRemoveHome } from '../support/cli.js';

test('sealmail import without a daemon: opens the store itself; idempotent; the daemon then serves the mail', { timeout: 240_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  const daemons = stopDaemonsThenRemoveHome(t, home);
  // The quickstart sets up the account; then the daemon is stopped.
  const first = await startCli(env);
  assert.equal(await first.stop(), 0);
  const alice = readCliConfig(env).accounts[0]!;
  const mboxPath = join(home, 'archive.mbox');
  writeFileSync(mboxPath, mbox(40));

  const started = Date.now();
  const run1 = runCli(env, ['import', '--mailbox', 'Archive/2015', mboxPath]);
  t.diagnostic(`direct import of 40 messages: ${Date.now() - started} ms (CLI start and store opening included)`);
  assert.equal(run1.status, 0, run1.stderr);
  assert.doesNotMatch(run1.stdout, /through the running daemon/);
  assert.match(run1.stdout, /imported 40 messages into Archive\/2015 of .*; 0 were already there/);
  const run2 = runCli(env, ['import', '--mailbox', 'Archive/2015', mboxPath]);
  assert.equal(run2.status, 0, run2.stderr);
  assert.match(run2.stdout, /imported 0 messages into Archive\/2015 .*; 40 were already there/);

  daemons.push(await startCli(env));
  const c = await imapClient(ports.imap, alice.address, alice.localPassword);
  try {
    const box = await imported(c, 'Archive/2015');
    assert.equal(box.size, 40);
    for (let i = 0; i < 40; i++) {
      const copies = box.get(String(i)) ?? [];
      assert.equal(copies.length, 1, `message ${i}: one copy`);
      // The mbox's bare LF is its newline: served with CRLF line ends, every other byte as it was.
      assert.ok(copies[0]!.raw.equals(Buffer.from(message(i).toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1')), `message ${i} byte for byte, with CRLF`);
      assert.equal(copies[0]!.internalDate, BASE + i * 3_600_000);
      if (i > 0) assert.ok(copies[0]!.uid > box.get(String(i - 1))![0]!.uid, `message ${i}: UID in the mbox's order`);
    }
  } finally {
    await c.logout();
  }
});
