// What a user reads when a port is taken, the provider is unreachable or no
// passphrase can be had, and the one edit that fixes a taken embedded
// provider port (README, Troubleshooting).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portInUseMessage } from '../../src/cli/start.js';
import { assertPortsFree, PortsInUseError } from '../../src/daemon/ports.js';
import { syncErrorText } from '../../src/cli/info.js';
import { defaultConfig, loadConfig, saveConfig } from '../../src/daemon/config.js';
import { EXIT_PASSPHRASE, promptPassphrase, readPassphraseFile } from '../../src/daemon/passphrase.js';
import { UserError } from '../../src/util/user-error.js';
import { assertImapLogin } from '../support/import-mail.js';
import { cliEnv, pollStatus, readCliConfig, runCliAsync, startCli, stopDaemonsThenRemoveHome } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

function inUse(port: number): Error {
  return Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', port, address: '127.0.0.1' });
}

test('a port in use names the setting that moves it: the config key once saved, else the variable of a first start', () => {
  const config = { ...defaultConfig({}), embeddedProvider: { domain: 'sealmail.localhost', host: '127.0.0.1', httpPort: 1986, mxPort: 1925, submissionPort: 1987 } };
  assert.equal(portInUseMessage(inUse(1984), config, '/h/config.json'), 'port 1984 on 127.0.0.1 is already in use; stop the other program or change imap.port in /h/config.json');
  assert.equal(portInUseMessage(inUse(1925), config, '/h/config.json'), 'port 1925 on 127.0.0.1 is already in use; stop the other program or change embeddedProvider.mxPort in /h/config.json');
  assert.equal(portInUseMessage(inUse(1986), config, null), 'port 1986 on 127.0.0.1 is already in use; stop the other program or start with SEALMAIL_PROVIDER_HTTP_PORT=<another port>');
  assert.match(portInUseMessage(inUse(4444), config, '/h/config.json')!, /choose another port in the configuration$/);
  assert.equal(portInUseMessage(new Error('other'), config, '/h/config.json'), null);
  // The daemon's pre-flight names every port in use at once.
  const several = new PortsInUseError([
    { host: '127.0.0.1', port: 1984 },
    { host: '127.0.0.1', port: 1986 },
    { host: '127.0.0.1', port: 1987 },
  ]);
  assert.equal(
    portInUseMessage(several, config, null),
    'ports 1984, 1986 and 1987 on 127.0.0.1 are already in use; stop the other programs or start with SEALMAIL_IMAP_PORT=<another port> SEALMAIL_PROVIDER_HTTP_PORT=<another port> SEALMAIL_PROVIDER_SUBMISSION_PORT=<another port>',
  );
  assert.equal(
    portInUseMessage(several, config, '/h/config.json'),
    'ports 1984, 1986 and 1987 on 127.0.0.1 are already in use; stop the other programs or change imap.port, embeddedProvider.httpPort and embeddedProvider.submissionPort in /h/config.json',
  );
});

test('the pre-flight finds every port of the configuration in use, and only those', async (t) => {
  const [a, b, c, d, e] = await freePorts(5);
  const squatters = [a!, d!].map((port) => net.createServer().listen(port, '127.0.0.1'));
  t.after(() => squatters.forEach((s) => s.close()));
  await Promise.all(squatters.map((s) => new Promise((resolve) => s.listening ? resolve(null) : s.once('listening', resolve))));
  const config = { ...defaultConfig({}), embeddedProvider: { domain: 'sealmail.localhost', host: '127.0.0.1', httpPort: c!, mxPort: d!, submissionPort: e! } };
  config.imap = { ...config.imap, host: '127.0.0.1', port: a! };
  config.smtp = { ...config.smtp, host: '127.0.0.1', port: b! };
  const err = await assertPortsFree(config).then(() => null, (x: unknown) => x);
  assert.ok(err instanceof PortsInUseError, String(err));
  assert.deepEqual(err.listeners.map((l) => l.port), [a, d]);
  squatters.forEach((s) => s.close());
  await Promise.all(squatters.map((s) => new Promise((resolve) => s.listening ? s.once('close', resolve) : resolve(null))));
  await assertPortsFree(config); // all free now
});

test('the pre-flight never listens itself: a client connecting while the daemon starts is refused, not accepted and reset', async (t) => {
  const [a, b, c, d, e] = await freePorts(5);
  const config = { ...defaultConfig({}), embeddedProvider: { domain: 'sealmail.localhost', host: '127.0.0.1', httpPort: c!, mxPort: d!, submissionPort: e! } };
  config.imap = { ...config.imap, host: '127.0.0.1', port: a! };
  config.smtp = { ...config.smtp, host: '127.0.0.1', port: b! };
  const listen = t.mock.method(net.Server.prototype, 'listen');
  await assertPortsFree(config);
  assert.equal(listen.mock.callCount(), 0);
});

test("the quickstart's accounts follow the embedded provider's httpPort; an account elsewhere keeps its URL", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.json');
  const account = (address: string, providerUrl: string) => ({ address, providerUrl, localPassword: 'local-password', alwaysEncrypt: false });
  saveConfig(file, {
    ...defaultConfig({}),
    embeddedProvider: { domain: 'sealmail.localhost', host: '127.0.0.1', httpPort: 2986, mxPort: 1925, submissionPort: 1987 },
    accounts: [account('me@sealmail.localhost', 'http://127.0.0.1:1986/'), account('bob@example.org', 'https://mail.example.org/')],
  });
  assert.deepEqual(loadConfig(file)!.accounts.map((a) => a.providerUrl), ['http://127.0.0.1:2986/', 'https://mail.example.org/']);
});

test('a sync error of an unreachable provider reads as such; others name the provider, not a database URL', () => {
  const seen = 'request to http://127.0.0.1:24880/user-5464/_local/OUgd%3D%3D failed, reason: connect ECONNREFUSED 127.0.0.1:24880';
  assert.equal(syncErrorText(seen), 'the provider is unreachable (ECONNREFUSED 127.0.0.1:24880); retrying');
  assert.equal(syncErrorText('getaddrinfo ENOTFOUND mail.example.org'), 'the provider is unreachable (ENOTFOUND mail.example.org); retrying');
  assert.equal(syncErrorText('401 unauthorized'), '401 unauthorized');
  // The provider stopped during a long poll.
  const broken = 'Invalid response body while trying to fetch http://127.0.0.1:24880/user-5464/_changes?style=all_docs&feed=longpoll&since=12&limit=90: Premature close';
  assert.equal(syncErrorText(broken), 'Invalid response body while trying to fetch http://127.0.0.1:24880/: Premature close');
});

test('no passphrase to be had exits 78, which the systemd unit does not restart on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-pass-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const exitCode = async (f: () => unknown): Promise<number> => {
    try {
      await f();
    } catch (err) {
      assert.ok(err instanceof UserError, String(err));
      return err.exitCode;
    }
    return assert.fail('no error');
  };
  // Under the test runner stdin is not a terminal, as under systemd.
  assert.equal(process.stdin.isTTY, undefined);
  assert.equal(await exitCode(() => promptPassphrase('Passphrase: ')), EXIT_PASSPHRASE);
  assert.equal(await exitCode(() => readPassphraseFile(join(dir, 'missing'))), EXIT_PASSPHRASE);
  writeFileSync(join(dir, 'open'), 'secret\n', { mode: 0o644 });
  assert.equal(await exitCode(() => readPassphraseFile(join(dir, 'open'))), EXIT_PASSPHRASE);
});

test('the embedded provider port in use: the first start names its variable, a later one its key; moving it there is enough', { timeout: 240_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  const daemons = stopDaemonsThenRemoveHome(t, home);
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(ports.http, '127.0.0.1', resolve));
  t.after(() => squatter.close());
  const imapSquatter = net.createServer();
  await new Promise<void>((resolve) => imapSquatter.listen(ports.imap, '127.0.0.1', resolve));
  t.after(() => imapSquatter.close());
  const configFile = join(home, '.config', 'sealmail', 'config.json');

  // Both ports named by the first start, before anything is set up.
  const first = await runCliAsync(env, ['start']);
  assert.equal(first.status, 1);
  assert.match(
    first.stderr,
    new RegExp(`^sealmail: ports ${ports.imap} and ${ports.http} on 127\\.0\\.0\\.1 are already in use; stop the other programs or start with SEALMAIL_IMAP_PORT=<another port> SEALMAIL_PROVIDER_HTTP_PORT=<another port>$`, 'm'),
  );
  assert.ok(!existsSync(configFile), 'nothing was set up');
  assert.ok(!existsSync(join(home, '.local', 'share', 'sealmail', 'accounts')), 'no account was created');

  imapSquatter.close();
  squatter.close();
  const quickstart = await startCli(env);
  daemons.push(quickstart);
  assert.equal(await quickstart.stop(), 0);

  await new Promise<void>((resolve) => squatter.listen(ports.http, '127.0.0.1', resolve));
  const later = await runCliAsync(env, ['start']);
  assert.equal(later.status, 1);
  assert.match(later.stderr, new RegExp(`^sealmail: port ${ports.http} on 127\\.0\\.0\\.1 is already in use; stop the other program or change embeddedProvider\\.httpPort in ${configFile.replace(/\./g, '\\.')}$`, 'm'));

  // The one edit the message asks for: the accounts' providerUrl follows.
  const [newPort] = await freePorts(1);
  const saved = JSON.parse(readFileSync(configFile, 'utf8')) as { embeddedProvider: { httpPort: number } };
  saved.embeddedProvider.httpPort = newPort!;
  writeFileSync(configFile, JSON.stringify(saved, null, 2));
  const moved = await startCli(env);
  daemons.push(moved);
  const status = await pollStatus<{ provider: { url?: string }; accounts: Array<{ sync: { connected: boolean } }> }>(env, (s) => s.accounts.length === 2 && s.accounts.every((a) => a.sync.connected), 90_000);
  assert.equal(status.provider.url, `http://127.0.0.1:${newPort}/`);
  const alice = readCliConfig(env).accounts.find((a) => a.address.startsWith('alice@'))!;
  await assertImapLogin(ports.imap, alice); // with the saved password
  assert.equal(await moved.stop(), 0);
});

test('account create with the provider unreachable says so and leaves nothing behind; the quickstart then starts', { timeout: 180_000 }, async (t) => {
  const { home, env } = await cliEnv();
  const daemons = stopDaemonsThenRemoveHome(t, home);
  const passFile = join(home, 'pass');
  writeFileSync(passFile, 'a long passphrase for bob\n', { mode: 0o600 });
  const [dead] = await freePorts(1); // nothing listens there
  const failed = await runCliAsync(env, ['account', 'create', '--provider', `http://127.0.0.1:${dead}/`, '--passphrase-file', passFile, 'bob@example.org']);
  assert.equal(failed.status, 1);
  assert.match(failed.stderr, new RegExp(`^sealmail: cannot reach the provider at http://127\\.0\\.0\\.1:${dead}/ \\(`, 'm'));
  const accounts = join(home, '.local', 'share', 'sealmail', 'accounts');
  assert.ok(!existsSync(join(accounts, 'bob@example.org')), 'no account directory left behind');
  // An empty one left by an older version is not taken for an account's data.
  mkdirSync(join(accounts, 'old@example.org'), { recursive: true });
  const quickstart = await startCli(env);
  daemons.push(quickstart);
  assert.match(quickstart.stdout(), /first start/);
  assert.equal(await quickstart.stop(), 0);
});
