// The quickstart: with no configuration, `npm start` sets up a working mail
// system on this machine alone — an embedded provider on loopback for a local
// domain, your account and a demo account — and sends you a welcome message
// from the demo account through the whole journey (SMTP gateway → provider
// relay → MX encryption → sync → fetch → IMAP).
//
// The quickstart generates the accounts' passphrases and keeps them in 0600
// files in the config dir so the daemon can start unattended. That is
// convenient for trying sealmail, and weaker than a passphrase only you know:
// README.md says so and shows how to use a real provider instead.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import nodemailer from 'nodemailer';
import { defaultConfig, envPort, parseRelayUrl, saveConfig, type SealmailConfig, type AccountConfig, type EmbeddedProviderConfig } from './config.js';
import { accountStoreDir } from './account.js';
import { generateLocalPassword, generatePassphrase } from './credentials.js';
import { writePrivateFile, type SealmailPaths } from './paths.js';
import { UserError } from '../util/user-error.js';

export const QUICKSTART_DOMAIN = 'sealmail.localhost';
export const DEMO_LOCAL_PART = 'demo';

function localPart(): string {
  const name = (process.env.SEALMAIL_USER ?? userInfo().username ?? 'me').toLowerCase().replace(/[^a-z0-9._-]/g, '');
  return name && name !== DEMO_LOCAL_PART ? name : 'me';
}

/** Builds the quickstart configuration and writes the generated passphrases (not the config yet). */
export function quickstartConfig(paths: SealmailPaths): SealmailConfig {
  // An account's data is its store; an empty directory (left by an older version's failed `account create`) is not.
  const accounts = join(paths.dataDir, 'accounts');
  if (existsSync(accounts) && readdirSync(accounts).some((a) => existsSync(accountStoreDir(paths.dataDir, a)))) {
    throw new UserError(`${paths.dataDir} holds account data but ${paths.configFile} is missing; restore the configuration, or move the data directory away to start afresh`);
  }
  const config = defaultConfig();
  const relay = process.env.SEALMAIL_PROVIDER_RELAY;
  const provider: EmbeddedProviderConfig = {
    domain: QUICKSTART_DOMAIN,
    host: '127.0.0.1',
    httpPort: envPort('SEALMAIL_PROVIDER_HTTP_PORT', 1986),
    mxPort: envPort('SEALMAIL_PROVIDER_MX_PORT', 1925),
    submissionPort: envPort('SEALMAIL_PROVIDER_SUBMISSION_PORT', 1987),
    // Mail to other domains: a smarthost, e.g. your ISP's (kept in the config file, 0600).
    ...(relay ? { relay: parseRelayUrl(relay) } : {}),
  };
  config.embeddedProvider = provider;
  const providerUrl = `http://${provider.host}:${provider.httpPort}/`;
  const account = (local: string): AccountConfig => {
    const address = `${local}@${QUICKSTART_DOMAIN}`;
    const passphraseFile = join(paths.configDir, 'passphrases', address);
    writePrivateFile(passphraseFile, generatePassphrase() + '\n');
    return { address, providerUrl, localPassword: generateLocalPassword(), alwaysEncrypt: false, passphraseFile };
  };
  config.accounts = [account(localPart()), account(DEMO_LOCAL_PART)];
  return config;
}

/**
 * The welcome message is still to be sent: the quickstart saved its
 * configuration, but its first start did not get as far as sending it (a
 * port taken while it started, a signal). The start that gets there sends it.
 */
const welcomeMarker = (paths: SealmailPaths): string => join(paths.configDir, 'welcome-pending');

/** Saves the quickstart's configuration, its welcome message marked as still to be sent. */
export function saveQuickstartConfig(paths: SealmailPaths, config: SealmailConfig): void {
  writePrivateFile(welcomeMarker(paths), '');
  saveConfig(paths.configFile, config);
}

/** Sends the welcome message if the quickstart has not yet; true when it was sent now. */
export async function sendWelcomeIfPending(paths: SealmailPaths, config: SealmailConfig): Promise<boolean> {
  if (!existsSync(welcomeMarker(paths))) return false;
  await sendWelcome(config);
  rmSync(welcomeMarker(paths), { force: true });
  return true;
}

/** Sends the welcome message from the demo account to the user through the local SMTP gateway. */
export async function sendWelcome(config: SealmailConfig): Promise<void> {
  const [user, demo] = config.accounts;
  if (!user || !demo) return;
  const transport = nodemailer.createTransport({
    host: config.smtp.host,
    port: config.smtp.port,
    secure: false,
    ignoreTLS: true,
    auth: { user: demo.address, pass: demo.localPassword },
  });
  try {
    await transport.sendMail({
      from: `sealmail demo <${demo.address}>`,
      to: user.address,
      subject: 'Welcome to sealmail',
      text: [
        'Hello!',
        '',
        'This message came the whole way: your local SMTP gateway signed and',
        'encrypted it, the provider stored only ciphertext, and your daemon',
        'synced, decrypted and verified it before your mail client saw it.',
        'Look at the X-Sealmail-Encryption and X-Sealmail-Signature headers.',
        '',
        `Write to ${demo.address} to try a round trip.`,
      ].join('\n'),
    });
  } finally {
    transport.close();
  }
}
