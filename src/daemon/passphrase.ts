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
