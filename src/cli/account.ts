// `sealmail account create|login|list|remove`.
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { defaultConfig, saveConfig, type AccountConfig } from '../daemon/config.js';
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
  if (o.keyserver !== undefined && !/^https?:\/\//.test(o.keyserver)) throw new UserError('--keyserver must be an http(s) URL');
  const account: AccountConfig = {
    address,
    providerUrl: o.provider,
    localPassword: generateLocalPassword(),
    alwaysEncrypt: o.alwaysEncrypt === true,
    ...(o.passphraseFile ? { passphraseFile: resolve(o.passphraseFile) } : {}),
    ...(o.keyserver ? { keyserver: o.keyserver } : {}),
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
      for (const a of config.accounts) console.log(`${a.address}  provider ${a.providerUrl}${a.alwaysEncrypt ? '  always-encrypt' : ''}`);
    });
  account
    .command('set <address>')
    .description("change an account's settings (applied to the running daemon too)")
    .option('--always-encrypt', 'refuse to send to recipients without a usable key (5xx at RCPT)')
    .option('--no-always-encrypt', 'send signed-only to recipients without a key')
    .action(async (address: string, o: { alwaysEncrypt?: boolean }) => {
      const ctx = cliContext();
      const config = requireConfig(ctx);
      const account = findAccount(config, address);
      if (o.alwaysEncrypt === undefined) throw new UserError('nothing to change: give --always-encrypt or --no-always-encrypt');
      account.alwaysEncrypt = o.alwaysEncrypt;
      saveConfig(ctx.paths.configFile, config);
      let applied = '';
      if (readDaemonStatus(ctx.paths.dataDir)) {
        await controlRequest(join(ctx.paths.dataDir, 'control.sock'), { method: 'account.set', account: account.address, params: { alwaysEncrypt: o.alwaysEncrypt ? 'yes' : 'no' } });
        applied = ' (the running daemon uses it now)';
      }
      console.log(`${account.address}: always-encrypt ${account.alwaysEncrypt ? 'on' : 'off'}${applied}`);
    });
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
