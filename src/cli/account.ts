// `sealmail account create|login|list|set|logout|remove`.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { defaultConfig, keyserverUrl, saveConfig, type AccountConfig } from '../daemon/config.js';
import { accountDir, openAccount } from '../daemon/account.js';
import { generateLocalPassword } from '../daemon/credentials.js';
import { controlRequest } from '../daemon/control.js';
import { passphraseSource, promptPassphrase, readPassphraseFile } from '../daemon/passphrase.js';
import { logoutEverywhere } from '../daemon/logout.js';
import { settingsText } from '../daemon/settings.js';
import type { KeyAlgorithm } from '../keymanager/keys.js';
import { UserError } from '../util/user-error.js';
import { cliContext, findAccount, requireConfig } from './context.js';
import { readDaemonStatus } from './info.js';
import { pullProgressBar } from './progress.js';

interface AccountOpts {
  provider: string;
  passphraseFile?: string;
  alwaysEncrypt?: boolean;
  /** `account create` only: the algorithm of the new OpenPGP key. */
  keyType?: KeyAlgorithm;
  keyserver?: string;
}

async function newPassphrase(o: AccountOpts, confirm: boolean): Promise<string> {
  if (o.passphraseFile) return readPassphraseFile(o.passphraseFile);
  const p = await promptPassphrase('Passphrase: ');
  if (confirm && p !== (await promptPassphrase('Passphrase again: '))) throw new UserError('the two passphrases differ');
  if (confirm && p.length < 8) throw new UserError('choose a passphrase of at least 8 characters');
  return p;
}

async function addAccount(address: string, o: AccountOpts, mode: 'new' | 'restore'): Promise<void> {
  const ctx = cliContext();
  const config = ctx.config ?? defaultConfig();
  address = address.toLowerCase();
  if (!/^[^@\s]+@[^@\s]+$/.test(address)) throw new UserError(`${address} is not a mail address`);
  if (config.accounts.some((a) => a.address === address)) throw new UserError(`${address} is already configured`);
  const keyserver = o.keyserver === undefined ? undefined : checkedKeyserver(o.keyserver);
  const account: AccountConfig = {
    address,
    providerUrl: o.provider,
    localPassword: generateLocalPassword(),
    alwaysEncrypt: o.alwaysEncrypt === true,
    ...(o.passphraseFile ? { passphraseFile: resolve(o.passphraseFile) } : {}),
    ...(keyserver ? { keyserver } : {}),
  };
  const passphrase = await newPassphrase(o, mode === 'new');
  console.log(mode === 'new' ? `creating ${address} at ${o.provider} ...` : `restoring ${address} from ${o.provider} ...`);
  // The initial sync of a new device can take minutes: show it in a terminal.
  const bar = mode === 'restore' ? pullProgressBar('restoring') : null;
  let pulled = 0;
  let runtime;
  try {
    runtime = await openAccount({
      config: account,
      dataDir: ctx.paths.dataDir,
      passphrase,
      create: mode,
      ...(o.keyType ? { keyType: o.keyType } : {}),
      onRestoreProgress: (p) => {
        pulled = p.pulled;
        bar?.update(p);
      },
    });
  } finally {
    bar?.stop();
  }
  await runtime.close();
  if (mode === 'restore') console.log(`restored ${pulled} documents from the provider`);
  config.accounts.push(account);
  saveConfig(ctx.paths.configFile, config);
  console.log(`${address} is ready.${readDaemonStatus(ctx.paths.dataDir) ? ' Restart the daemon to serve it.' : ''}\n`);
  console.log(settingsText(config, account));
}

function checkedKeyserver(value: string): string {
  const url = keyserverUrl(value);
  if (!url) throw new UserError(`--keyserver must be an http(s) URL such as https://keys.openpgp.org (or hkps://HOST), not ${value}`);
  return url;
}

interface AccountSetOpts {
  alwaysEncrypt?: boolean;
  /** A URL, or false for --no-keyserver. */
  keyserver?: string | false;
  /** A file, or false for --no-passphrase-file. */
  passphraseFile?: string | false;
}

/**
 * `sealmail account set`: everything is checked before anything is written;
 * the configuration file is saved, then the running daemon (if any) is told
 * over its control socket, so it needs no restart.
 */
async function setAccount(address: string, o: AccountSetOpts): Promise<void> {
  const ctx = cliContext();
  const config = requireConfig(ctx);
  const account = findAccount(config, address);
  if (o.alwaysEncrypt === undefined && o.keyserver === undefined && o.passphraseFile === undefined) {
    throw new UserError('nothing to change: give --[no-]always-encrypt, --keyserver URL, --no-keyserver, --passphrase-file FILE or --no-passphrase-file');
  }
  const keyserver = typeof o.keyserver === 'string' ? checkedKeyserver(o.keyserver) : o.keyserver;
  // Checked now (exists, 0600, not empty) rather than at the next unattended start.
  if (typeof o.passphraseFile === 'string') readPassphraseFile(o.passphraseFile);
  const changes: string[] = [];
  const live: Record<string, string> = {};
  if (o.alwaysEncrypt !== undefined) {
    account.alwaysEncrypt = o.alwaysEncrypt;
    live.alwaysEncrypt = o.alwaysEncrypt ? 'yes' : 'no';
    changes.push(`always-encrypt ${o.alwaysEncrypt ? 'on' : 'off'}`);
  }
  if (keyserver !== undefined) {
    if (keyserver) account.keyserver = keyserver;
    else delete account.keyserver;
    live.keyserver = keyserver || '';
    changes.push(keyserver ? `keyserver ${keyserver}` : 'no keyserver');
  }
  if (o.passphraseFile !== undefined) {
    if (o.passphraseFile) account.passphraseFile = resolve(o.passphraseFile);
    else delete account.passphraseFile;
    changes.push(account.passphraseFile ? `passphrase file ${account.passphraseFile} (used from the next start)` : 'no passphrase file (asked at the next start)');
  }
  saveConfig(ctx.paths.configFile, config);
  const applied = Object.keys(live).length > 0 ? await applyToDaemon(ctx.paths.dataDir, account.address, live) : '';
  console.log(`${account.address}: ${changes.join(', ')}${applied}`);
}

/** Tells the running daemon, if there is one; what to add to the confirmation. */
async function applyToDaemon(dataDir: string, address: string, params: Record<string, string>): Promise<string> {
  const socket = join(dataDir, 'control.sock');
  try {
    // A crashed daemon leaves its socket behind: then nobody answers (ECONNREFUSED).
    if (existsSync(socket)) {
      await controlRequest(socket, { method: 'account.set', account: address, params });
      return ' (the running daemon uses it now)';
    }
  } catch (err) {
    if (readDaemonStatus(dataDir)) throw new UserError(`saved in the configuration, but the running daemon did not take it (${(err as Error).message}); restart it`);
  }
  // The lock's holder: a daemon still starting (it read the configuration already) or an import.
  return lockHolderAlive(dataDir) ? ' (a sealmail process is starting or importing here: if it is the daemon, restart it to use this)' : '';
}

function lockHolderAlive(dataDir: string): boolean {
  try {
    const pid = Number(readFileSync(join(dataDir, 'daemon.pid'), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function registerAccount(program: Command): void {
  const account = program.command('account').description('manage accounts');
  account
    .command('create <address>')
    .description('create a new account at a provider (keys, encrypted store)')
    .requiredOption('--provider <url>', "the provider's base URL")
    .option('--passphrase-file <file>', 'read the passphrase from a 0600 file instead of asking')
    .option('--always-encrypt', 'refuse to send to recipients without a usable key')
    .option('--keyserver <url>', 'an HKP keyserver asked last when looking up recipients\' keys (none by default)')
    .addOption(
      new Option('--key-type <type>', 'algorithm of the new OpenPGP key: curve25519 (fast, small) or rsa4096 (for old OpenPGP software; generating it takes seconds)')
        .choices(['curve25519', 'rsa4096'])
        .default('curve25519'),
    )
    .action((address: string, o: AccountOpts) => addAccount(address, o, 'new'));
  account
    .command('login <address>')
    .description('set up this device for an existing account: restores everything with the passphrase')
    .requiredOption('--provider <url>', "the provider's base URL")
    .option('--passphrase-file <file>', 'read the passphrase from a 0600 file instead of asking')
    .option('--always-encrypt', 'refuse to send to recipients without a usable key')
    .option('--keyserver <url>', 'an HKP keyserver asked last when looking up recipients\' keys (none by default)')
    .action((address: string, o: AccountOpts) => addAccount(address, o, 'restore'));
  account
    .command('list')
    .description('the configured accounts')
    .action(() => {
      const config = requireConfig(cliContext());
      for (const a of config.accounts) console.log(`${a.address}  provider ${a.providerUrl}${a.alwaysEncrypt ? '  always-encrypt' : ''}${a.keyserver ? `  keyserver ${a.keyserver}` : ''}`);
    });
  account
    .command('set <address>')
    .description("change an account's settings; the running daemon takes them at once (a passphrase file counts from the next start)")
    .option('--always-encrypt', 'refuse to send to recipients without a usable key (5xx at RCPT)')
    .option('--no-always-encrypt', 'send signed-only to recipients without a key')
    .option('--keyserver <url>', "an HKP keyserver asked last for recipients' keys, e.g. https://keys.openpgp.org (hkps://HOST works too)")
    .option('--no-keyserver', 'ask no keyserver')
    .option('--passphrase-file <file>', 'start unattended with the passphrase from this 0600 file')
    .option('--no-passphrase-file', 'ask for the passphrase at start (or take it from a systemd credential)')
    .action((address: string, o: AccountSetOpts) => setAccount(address, o));
  account
    .command('logout <address>')
    .description('end every session of the account at the provider (all devices) and forget the one cached here')
    .option('--passphrase-file <file>', 'read the passphrase from a 0600 file (needed only when the cached session no longer works)')
    .action(async (address: string, o: { passphraseFile?: string }) => {
      const ctx = cliContext();
      const account = findAccount(requireConfig(ctx), address);
      const passphrase = () => (o.passphraseFile ? Promise.resolve(readPassphraseFile(o.passphraseFile)) : passphraseSource()(account));
      const revoked = await logoutEverywhere({ config: account, dataDir: ctx.paths.dataDir, passphrase });
      console.log(`revoked ${revoked} session(s) of ${account.address} at the provider; each device logs in again with the passphrase when its daemon starts.`);
      if (readDaemonStatus(ctx.paths.dataDir)) console.log('The running daemon here lost its session too: restart it.');
    });
  account
    .command('remove <address>')
    .description('remove an account from this device (the provider keeps it)')
    .option('--delete-data', "also delete this device's copy of its mail and keys")
    .action((address: string, o: { deleteData?: boolean }) => {
      const ctx = cliContext();
      const config = requireConfig(ctx);
      const before = config.accounts.length;
      config.accounts = config.accounts.filter((a) => a.address !== address.toLowerCase());
      if (config.accounts.length === before) throw new UserError(`no account ${address} is configured`);
      if (readDaemonStatus(ctx.paths.dataDir)) throw new UserError('the daemon is running; stop it before removing an account');
      saveConfig(ctx.paths.configFile, config);
      if (o.deleteData) rmSync(accountDir(ctx.paths.dataDir, address), { recursive: true, force: true });
      console.log(`removed ${address}${o.deleteData ? ' and its local data' : ' (local data kept)'}`);
    });
}
