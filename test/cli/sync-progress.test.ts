// Progress of a new device's sync in `sealmail status`: while the second
// device is off, a large message (each 128 KiB chunk is a document) arrives
// on the first; the second daemon's catch-up is then counted from the
// replication info, and status shows it.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { join } from 'node:path';
import { cliEnv, IMAP_FIND_MESSAGE, pollStatus, pythonImap, readCliConfig, runCli, secondDeviceEnv, sendThroughGateway, startCli, type FoundMessage, stopDaemonsThenRemoveHome } from '../support/cli.js';

type Progress = { active: boolean; pulled: number; total: number | null; sinceStart: number };
type Status = { accounts: Array<{ address: string; progress: Progress; sync: { state: string; pending: number } }> };

test('status shows the pull progress of a second device catching up', { timeout: 180_000 }, async (t) => {
  const first = await cliEnv();
  const { home, env, ports } = first;
  const daemons = stopDaemonsThenRemoveHome(t, home);
  daemons.push(await startCli(env));
  const [alice, demo] = readCliConfig(env).accounts;
  assert.ok(alice && demo && alice.passphraseFile);
  const device2 = await secondDeviceEnv(first);
  const env2 = device2.env;

  const login = runCli(env2, ['account', 'login', '--provider', device2.providerUrl, alice.address, '--passphrase-file', alice.passphraseFile]);
  assert.equal(login.status, 0, login.stderr);
  assert.match(login.stdout, /restored \d+ documents from the provider/);
  assert.doesNotMatch(login.stderr, /restoring \[/, 'no progress bar when stderr is not a terminal');

  const bigSubject = `big one ${Date.now()}`;
  const bigText = Array.from({ length: 200_000 }, (_, i) => `line ${i} of a long report`).join('\n');
  await sendThroughGateway(ports.smtp, demo.address, demo.localPassword, { to: alice.address, subject: bigSubject, text: bigText });
  const asAlice = { USER_ADDR: alice.address, PASSWORD: alice.localPassword };
  assert.equal(pythonImap<FoundMessage>(IMAP_FIND_MESSAGE, { PORT: ports.imap, ...asAlice, SUBJECT: bigSubject, NO_BODY: 1 }).count, 1);
  await pollStatus<Status>(env, (s) => s.accounts.every((a) => a.sync.state === 'idle' && a.sync.pending === 0));

  daemons.push(await startCli(env2));
  // Sample the status file while the catch-up runs; it ends caught up.
  const seen: Progress[] = [];
  const caughtUp = await pollStatus<Status>(
    env2,
    (s) => {
      const p = s.accounts[0]!.progress;
      seen.push(p);
      return s.accounts[0]!.sync.state === 'idle' && !p.active && p.sinceStart >= 40;
    },
    60_000,
  );
  const progress = caughtUp.accounts[0]!.progress;
  t.diagnostic(`catch-up: ${JSON.stringify(progress)}; during: ${JSON.stringify(seen.filter((p) => p.active))}`);
  assert.ok(progress.pulled >= 40, `the catch-up pulled ${progress.pulled} documents (chunks of the large message)`);
  assert.equal(progress.total, progress.pulled, 'caught up: total = pulled');
  for (const p of seen.filter((x) => x.active)) {
    assert.ok(p.total === null || (p.total >= p.pulled && p.total <= progress.sinceStart + 5), `a sensible total during the catch-up: ${JSON.stringify(p)}`);
  }
  const text = runCli(env2, ['status']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`pulled: ${progress.sinceStart} documents since start \\(${progress.pulled} in the last catch-up\\)`));
  const asAlice2 = { USER_ADDR: alice.address, PASSWORD: readCliConfig(env2).accounts[0]!.localPassword };
  const big = pythonImap<FoundMessage>(IMAP_FIND_MESSAGE, { PORT: device2.imapPort, ...asAlice2, SUBJECT: bigSubject, NO_BODY: 1 });
  assert.equal(big.count, 1);
  assert.ok(big.size! > bigText.length, `the whole message arrived (${big.size} bytes)`);
});

