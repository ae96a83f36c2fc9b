// The `sealmail` command (commander): every subcommand has --help; failures
// are one sentence and a non-zero exit (errors.ts).
import { Command } from 'commander';
import { fail } from './errors.js';
import { registerStart } from './start.js';
import { registerStatus, registerSettings } from './info.js';
import { registerAccount } from './account.js';
import { registerService } from './service.js';
import { registerProvider } from './provider.js';
import { registerKeys, registerPassphrase } from './keys.js';
import { registerImport } from './import.js';

const program = new Command('sealmail')
  .description('end-to-end encrypted email for the mail client you already have')
  .version('0.1.0')
  .showHelpAfterError();

registerStart(program);
registerStatus(program);
registerSettings(program);
registerAccount(program);
registerKeys(program);
registerPassphrase(program);
registerImport(program);
registerProvider(program);
registerService(program);

program.parseAsync(process.argv).catch(fail);
