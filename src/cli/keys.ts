// `sealmail keys ...` and `sealmail passphrase change`: through the running
// daemon's control socket (it holds the only handle on the encrypted store).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { controlRequest } from '../daemon/control.js';
import { promptPassphrase, readPassphraseFile } from '../daemon/passphrase.js';
import { UserError } from '../util/user-error.js';
import { cliContext } from './context.js';

async function ask(method: string, account: string | undefined, params: Record<string, string> = {}): Promise<unknown> {
  const { paths } = cliContext();
  return controlRequest(join(paths.dataDir, 'control.sock'), { method, account, params });
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('the keyring: list, show, export, import, verify (pin) keys');
  keys
    .command('list')
    .description('every key in the keyring with its address, source and validation level')
    .option('--account <address>')
    .action(async (o: { account?: string }) => {
      const rows = (await ask('keys.list', o.account)) as Array<Record<string, string | boolean | null>>;
      for (const r of rows) console.log(`${r.address}  ${r.fingerprint}  ${r.level} (${r.source})${r.revoked ? '  REVOKED' : ''}${r.expiresAt ? `  expires ${r.expiresAt}` : ''}`);
    });
  keys
    .command('show [address]')
    .description("an address's keyring record (default: your own)")
    .option('--account <address>')
    .action(async (address: string | undefined, o: { account?: string }) => {
      const doc = await ask('keys.show', o.account, address ? { address } : {});
      console.log(JSON.stringify(doc, (k, v) => (k === 'armored' ? undefined : v), 2));
    });
  keys
    .command('export [address]')
    .description('armored public key (GnuPG-compatible); yours by default')
    .option('--secret', 'export your private key instead (handle with care)')
    .option('--account <address>')
    .action(async (address: string | undefined, o: { account?: string; secret?: boolean }) => {
      console.log(await ask('keys.export', o.account, { ...(address ? { address } : {}), secret: o.secret ? 'yes' : 'no' }));
    });
  keys
    .command('import <file>')
    .description('import armored public keys (e.g. from `gpg --export --armor`)')
    .option('--account <address>')
    .action(async (file: string, o: { account?: string }) => {
      const fprs = (await ask('keys.import', o.account, { armored: readFileSync(file, 'utf8') })) as string[];
      console.log(`imported ${fprs.length} key(s): ${fprs.join(', ')}`);
    });
  keys
    .command('verify <address> <fingerprint>')
    .description('pin a fingerprint you verified with its owner: it is then used, and only replaced explicitly')
    .option('--account <address>')
    .action(async (address: string, fingerprint: string, o: { account?: string }) => {
      console.log(await ask('keys.verify', o.account, { address, fingerprint: fingerprint.replace(/\s+/g, '').toUpperCase() }));
    });
}

export function registerPassphrase(program: Command): void {
  program
    .command('passphrase')
    .description('change the passphrase that protects your storage secret')
    .command('change')
    .description('re-wrap the storage secret under a new passphrase (documents are not re-encrypted)')
    .option('--account <address>')
    .option('--current-file <file>', 'read the current passphrase from a 0600 file')
    .option('--new-file <file>', 'read the new passphrase from a 0600 file')
    .action(async (o: { account?: string; currentFile?: string; newFile?: string }) => {
      const current = o.currentFile ? readPassphraseFile(o.currentFile) : await promptPassphrase('Current passphrase: ');
      const next = o.newFile ? readPassphraseFile(o.newFile) : await promptPassphrase('New passphrase: ');
      if (!o.newFile && next !== (await promptPassphrase('New passphrase again: '))) throw new UserError('the two new passphrases differ; nothing changed');
      if (next.length < 8) throw new UserError('the new passphrase is shorter than 8 characters; nothing changed');
      console.log(await ask('passphrase.change', o.account, { current, next }));
      console.log('Remember to update any --passphrase-file or systemd credential that holds the old one.');
    });
}
