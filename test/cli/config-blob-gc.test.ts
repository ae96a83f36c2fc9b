// config.json's "blobGc": validated with one clear sentence, kept when the
// configuration is saved again, and applied by the daemon to every account:
// with "enabled": false nothing is proposed or deleted, with a grace period
// of a moment the content of an expunged message is freed (24 h otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ConfigError, blobGcTiming, defaultConfig, loadConfig, saveConfig, type SealmailConfig } from '../../src/daemon/config.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { resolvePaths } from '../../src/daemon/paths.js';
import { startTestProvider } from '../provider/helpers.js';
import { freePorts } from '../support/ports.js';
import { LOGIN_COST, TEST_KDF } from '../support/fetch-account.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function withFile(json: unknown, check: (file: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sm-config-'));
  try {
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify(json));
    check(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('"blobGc" in config.json: valid settings load and survive a save; bad ones are refused in one sentence', () => {
  const base = { version: 1, accounts: [] };
  withFile({ ...base, blobGc: { graceHours: 72, enabled: false } }, (file) => {
    const c = loadConfig(file)!;
    assert.deepEqual(c.blobGc, { graceHours: 72, enabled: false });
    saveConfig(file, c);
    assert.deepEqual(loadConfig(file)!.blobGc, { graceHours: 72, enabled: false });
  });
  withFile(base, (file) => assert.equal(loadConfig(file)!.blobGc, undefined, 'absent: the defaults'));
  assert.deepEqual(defaultConfig({}).blobGc, { graceHours: 24, enabled: true }, 'a new configuration shows the setting');
  const bad: Array<[unknown, RegExp]> = [
    [{ graceHours: -1 }, /"blobGc\.graceHours" must be a number of hours from 0 to/],
    [{ graceHours: '24' }, /"blobGc\.graceHours" must be a number/],
    [{ graceHours: 1e9 }, /"blobGc\.graceHours" must be a number/],
    [{ enabled: 'no' }, /"blobGc\.enabled" must be true or false/],
    [{ graceDays: 2 }, /"blobGc" has no setting "graceDays"/],
    [24, /"blobGc" must be an object/],
  ];
  for (const [value, message] of bad) {
    withFile({ ...base, blobGc: value }, (file) => {
      assert.throws(() => loadConfig(file), (err: Error) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'));
    });
  }
  assert.deepEqual(blobGcTiming(undefined), {});
  assert.deepEqual(blobGcTiming({ graceHours: 1.5 }), { graceMs: 5_400_000 });
  assert.deepEqual(blobGcTiming({ enabled: false }), { propose: false });
});

test('the daemon applies "blobGc": off, an expunged message\'s content stays; on with a short grace period, it is freed', { timeout: 120_000 }, async () => {
  const provider = await startTestProvider();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sm-gc-config-'));
  const paths = resolvePaths({ XDG_CONFIG_HOME: path.join(home, 'config'), XDG_DATA_HOME: path.join(home, 'data'), HOME: home });
  const address = 'alice@example.org';
  const [imapPort, smtpPort] = await freePorts(2);
  const config: SealmailConfig = {
    ...defaultConfig({}),
    imap: { host: '127.0.0.1', port: imapPort! },
    smtp: { host: '127.0.0.1', port: smtpPort! },
    accounts: [{ address, providerUrl: provider.httpUrl, localPassword: 'local password', alwaysEncrypt: false }],
  };
  // Passes come quickly; the grace period and on/off come from the configuration.
  const run = (c: SealmailConfig, create?: 'new') =>
    startDaemon({ paths, config: c, passphraseFor: async () => 'a test passphrase', kdf: TEST_KDF, loginCost: LOGIN_COST, blobGc: { firstRunMs: 50, intervalMs: 100, storedLatelyMs: 0 }, ...(create ? { create: { [address]: create } } : {}) });
  const raw = Buffer.concat([Buffer.from('From: a@example.org\r\nSubject: gone\r\n\r\n'), Buffer.alloc(100_000, 'body\r\n')]);
  try {
    fs.mkdirSync(paths.configDir, { recursive: true });
    saveConfig(paths.configFile, { ...config, blobGc: { graceHours: 0, enabled: false } });
    let daemon = await run(loadConfig(paths.configFile)!, 'new');
    const account = daemon.accounts[0]!;
    await account.mail.append('INBOX', raw);
    await account.mail.expunge('INBOX', [1]);
    const until = Date.now() + 30_000;
    while (account.blobGc.stats.runs < 3) {
      assert.ok(Date.now() < until, 'the collector runs');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(account.blobGc.stats.freedBlobs, 0, 'off: nothing deleted');
    assert.equal(account.blobGc.stats.pending, 0, 'off: nothing proposed');
    assert.equal(await account.soledad.hasBlob(sha(raw)), true);
    await daemon.close();

    // On again, with a grace period of ~0.4 s instead of 24 h: the content goes.
    saveConfig(paths.configFile, { ...config, blobGc: { graceHours: 0.0001 } });
    daemon = await run(loadConfig(paths.configFile)!);
    const again = daemon.accounts[0]!;
    try {
      const deadline = Date.now() + 60_000;
      while (again.blobGc.stats.freedBlobs < 1) {
        assert.ok(Date.now() < deadline, `not freed in time: ${JSON.stringify(again.blobGc.stats)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(await again.soledad.hasBlob(sha(raw)), false);
    } finally {
      await daemon.close();
    }
  } finally {
    await provider.dispose();
    fs.rmSync(home, { recursive: true, force: true });
  }
});
