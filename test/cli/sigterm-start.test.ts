// SIGTERM while `sealmail start` is still starting (ddaa967): the daemon
// closes once it is up, so it exits 0, releases its lock and writes its index
// snapshot; the next start finds the snapshot, replays almost nothing, and no
// mail is lost. An account at a provider of its own (in this process, behind
// an HTTP proxy that slows one request to 3 s, as over a slow link), signalled
// at two moments: while it logs in to the provider (POST /api/sessions), before
// its store opens, and once IMAP takes clients while the start still waits for
// the provider's submission settings (GET /api/config). Before each, mail
// is imported into a running daemon that is then SIGKILLed, so the signalled
// start has a stale snapshot: one that dies without closing leaves it stale
// for the next start (which then replays everything again).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProvider } from '../../src/provider/index.js';
import { imapClient, mbox } from '../support/import-mail.js';
import { accepting, cliEnv, indexReadyLines, readCliConfig, runCliAsync, spawnCliStart, startCli, stopDaemonsThenRemoveHome, type RunningDaemon } from '../support/cli.js';

const LIVE = 150;
const SLOW_MS = 3_000;

/** Forwards to `target`; requests to `slow.path` wait SLOW_MS first, and are counted in `slowed`. */
async function slowableProxy(target: string): Promise<{ url: string; slow: { path: string | null; slowed: number }; close(): void }> {
  const up = new URL(target);
  const slow = { path: null as string | null, slowed: 0 };
  const server = http.createServer((req, res) => {
    const forward = (): void => {
      const upstream = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    };
    if (slow.path && req.url?.startsWith(slow.path)) {
      slow.slowed++;
      setTimeout(forward, SLOW_MS);
    } else forward();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    slow,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}

test('SIGTERM during the start (logging in; IMAP up, provider slow): exit 0, lock released, the next start finds the snapshot and all the mail', { timeout: 300_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  const provider = await startProvider({ dataDir: join(home, 'provider'), domains: ['example.org'], scrypt: { N: 1024 } });
  const proxy = await slowableProxy(provider.httpUrl);
  // After-hooks run in registration order: the daemons stop (and HOME goes) before the provider does.
  const daemons = stopDaemonsThenRemoveHome(t, home);
  t.after(async () => {
    proxy.close();
    await provider.close();
  });
  const dataDir = join(home, '.local', 'share', 'sealmail');
  const passFile = join(home, 'passphrase');
  writeFileSync(passFile, 'correct horse battery staple\n', { mode: 0o600 });
  const created = await runCliAsync(env, ['account', 'create', 'alice@example.org', '--provider', proxy.url, '--passphrase-file', passFile]);
  assert.equal(created.status, 0, created.stderr);
  const alice = readCliConfig(env).accounts[0]!;

  const released = (): void => {
    assert.ok(!existsSync(join(dataDir, 'daemon.pid')), 'the pid file is gone');
    assert.ok(!existsSync(join(dataDir, 'daemon.lock')), 'the lock is released');
  };
  type Moment = (starting: RunningDaemon) => boolean | Promise<boolean>;
  const signalledStart = async (moment: string, reached: Moment): Promise<void> => {
    const d = spawnCliStart(env);
    daemons.push(d);
    const deadline = Date.now() + 90_000;
    while (!(await reached(d)) && d.child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    d.child.kill('SIGTERM');
    assert.deepEqual(await d.exited, { code: 0, signal: null }, `SIGTERM ${moment}: a clean exit\n${d.stderr()}`);
    assert.match(d.stderr(), /shutting down once started/, `SIGTERM ${moment}: the signal came during the start`);
    const ready = indexReadyLines(d.stderr());
    assert.ok(ready.length === 1 && ready[0]!.replayed >= LIVE, `the signalled start had the ${LIVE} new entries to replay: ${JSON.stringify(ready)}`);
    released();
  };
  const nextStart = async (moment: string): Promise<RunningDaemon> => {
    const d = await startCli(env);
    daemons.push(d);
    assert.doesNotMatch(d.stderr(), /did not stop cleanly/, `after SIGTERM ${moment}`);
    const [ready] = indexReadyLines(d.stderr());
    assert.equal(ready?.snapshot, true, `after SIGTERM ${moment}: the snapshot is there`);
    assert.ok(ready.replayed < LIVE / 3, `after SIGTERM ${moment}: replayed ${ready.replayed} entries, not the ${LIVE} the last snapshot lacked`);
    return d;
  };

  let running = await startCli(env);
  daemons.push(running);
  // Each moment: which provider request is slowed, and when the signal goes.
  const moments: Array<[string, string, Moment]> = [
    ['while it logs in to the provider, before the store opens', '/api/sessions', () => proxy.slow.slowed > 0],
    ['once IMAP takes clients, waiting for the provider', '/api/config', async () => proxy.slow.slowed > 0 && (await accepting(ports.imap))],
  ];
  const mailboxes: string[] = [];
  for (const [i, [moment, slowPath, reached]] of moments.entries()) {
    const mailbox = `Live ${i}`;
    const file = join(home, `live-${i}.mbox`);
    writeFileSync(file, mbox(LIVE));
    const imported = await runCliAsync(env, ['import', '--mailbox', mailbox, file]);
    assert.equal(imported.status, 0, imported.stderr);
    mailboxes.push(mailbox);
    await running.stop('SIGKILL');
    Object.assign(proxy.slow, { path: slowPath, slowed: 0 });
    await signalledStart(moment, reached);
    proxy.slow.path = null;
    running = await nextStart(moment);
  }

  const c = await imapClient(ports.imap, alice.address, alice.localPassword);
  try {
    for (const m of mailboxes) assert.equal(((await c.status(m, { messages: true })) as { messages?: number }).messages, LIVE, `${m}: every message is there`);
  } finally {
    await c.logout();
  }
  assert.equal(await running.stop(), 0);
  released();
});
