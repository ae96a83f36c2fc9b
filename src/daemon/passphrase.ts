// Where an account's passphrase comes from, in order: an explicit
// --passphrase-file, the account's configured passphraseFile, the systemd
// credential ($CREDENTIALS_DIRECTORY/passphrase, see service.ts), an
// interactive prompt in a terminal. The credential is one passphrase for the
// whole service, so it only stands in for accounts without their own file:
// checked first, it was applied to every account, and the quickstart's demo
// account (its own, different passphrase file) failed the start with exit 78.
// Files must be 0600 (or stricter): a passphrase file others can read is
// refused, not silently used.
import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { UserError } from '../util/user-error.js';
import type { AccountConfig } from './config.js';

/**
 * Exit status of a start that only the user can fix (a wrong, outdated or
 * missing passphrase): EX_CONFIG of sysexits.h; the systemd unit does not
 * restart on it (RestartPreventExitStatus), rather than retrying every few seconds.
 */
export const EXIT_PASSPHRASE = 78;

export function readPassphraseFile(file: string): string {
  if (!existsSync(file)) throw new UserError(`the passphrase file ${file} does not exist`, EXIT_PASSPHRASE);
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) throw new UserError(`the passphrase file ${file} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${file}`, EXIT_PASSPHRASE);
  const value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  if (!value) throw new UserError(`the passphrase file ${file} is empty`, EXIT_PASSPHRASE);
  return value;
}

export async function promptPassphrase(question: string): Promise<string> {
  if (!process.stdin.isTTY) throw new UserError('no passphrase: give --passphrase-file FILE (mode 0600), or run in a terminal to be asked', EXIT_PASSPHRASE);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // Do not echo what is typed.
  const output = rl as unknown as { _writeToOutput?: (s: string) => void };
  output._writeToOutput = (s: string) => {
    if (s.includes(question)) process.stderr.write(s);
  };
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    process.stderr.write('\n');
    rl.close();
  }
}

export function passphraseSource(explicitFile?: string): (account: AccountConfig) => Promise<string> {
  return async (account) => {
    if (explicitFile) return readPassphraseFile(explicitFile);
    if (account.passphraseFile) return readPassphraseFile(account.passphraseFile);
    const credentials = process.env.CREDENTIALS_DIRECTORY;
    if (credentials && existsSync(join(credentials, 'passphrase'))) return readFileSync(join(credentials, 'passphrase'), 'utf8').replace(/\r?\n$/, '');
    return promptPassphrase(`Passphrase for ${account.address}: `);
  };
}

/**
 * `sealmail start --passphrase-file` (repeatable): which file each account
 * reads. `ADDRESS=FILE` is for that account. A plain `FILE` is for the one
 * account when only one is configured; with several it is only for the
 * accounts without a passphrase file of their own (like the systemd
 * credential above): handed to all, it gave the quickstart's demo account
 * alice's passphrase and the start failed with exit 78. A plain file no
 * account would read is refused, not silently ignored.
 */
export function startPassphraseFiles(values: string[], accounts: AccountConfig[]): { files: Map<string, string>; note: string | null } {
  const files = new Map<string, string>();
  const plain: string[] = [];
  for (const value of values) {
    const m = /^([^\s/=]+@[^\s/=]+)=(.+)$/.exec(value);
    if (!m) {
      plain.push(value);
      continue;
    }
    const address = m[1]!.toLowerCase();
    if (!accounts.some((a) => a.address === address)) {
      throw new UserError(`--passphrase-file ${value}: no account ${address} is configured (accounts: ${accounts.map((a) => a.address).join(', ')})`);
    }
    if (files.has(address)) throw new UserError(`--passphrase-file: two files for ${address}`);
    files.set(address, m[2]!);
  }
  if (plain.length > 1) throw new UserError('--passphrase-file: give one FILE for the accounts without a passphrase file of their own, or ADDRESS=FILE per account');
  const file = plain[0];
  if (file === undefined) return { files, note: null };
  const rest = accounts.filter((a) => !files.has(a.address));
  if (accounts.length === 1) {
    for (const a of rest) files.set(a.address, file);
    return { files, note: null };
  }
  const served = rest.filter((a) => !a.passphraseFile);
  if (served.length === 0) {
    throw new UserError(
      `--passphrase-file ${file}: every other account reads its own passphrase file (${rest.map((a) => a.address).join(', ')}), so this file would not be used; to give one account this passphrase: --passphrase-file ADDRESS=${file}`,
    );
  }
  for (const a of served) files.set(a.address, file);
  const own = rest.filter((a) => a.passphraseFile).map((a) => a.address);
  return { files, note: `passphrase from ${file} for ${served.map((a) => a.address).join(', ')}${own.length ? ` (${own.join(', ')} read their own passphrase file)` : ''}` };
}
