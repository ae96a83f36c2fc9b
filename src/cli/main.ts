// The `sealmail` command (commander): every subcommand has --help; failures
// are one sentence and a non-zero exit (errors.ts).
// Only the module of the command being run is loaded (`sealmail status` does
// not load the daemon, `sealmail start` not the import or provider commands);
// help, --version and an unknown command load them all.
import { Command } from 'commander';
import { fail } from './errors.js';

type Register = (program: Command) => void;

/** Each command module with the commands it registers, in the order help lists them. */
const COMMANDS: Array<{ names: string[]; load: () => Promise<Register[]> }> = [
  { names: ['start'], load: () => import('./start.js').then((m) => [m.registerStart]) },
  { names: ['status', 'settings'], load: () => import('./info.js').then((m) => [m.registerStatus, m.registerSettings]) },
  { names: ['account'], load: () => import('./account.js').then((m) => [m.registerAccount]) },
  { names: ['keys', 'passphrase'], load: () => import('./keys.js').then((m) => [m.registerKeys, m.registerPassphrase]) },
  { names: ['import'], load: () => import('./import.js').then((m) => [m.registerImport]) },
  { names: ['provider'], load: () => import('./provider.js').then((m) => [m.registerProvider]) },
  { names: ['install-service', 'uninstall-service'], load: () => import('./service.js').then((m) => [m.registerService]) },
];

async function main(argv: string[]): Promise<void> {
  const program = new Command('sealmail')
    .description('end-to-end encrypted email for the mail client you already have')
    .version('0.1.0')
    .showHelpAfterError();
  const named = COMMANDS.find((c) => c.names.includes(argv[2] ?? ''));
  for (const c of named ? [named] : COMMANDS) for (const register of await c.load()) register(program);
  await program.parseAsync(argv);
}

main(process.argv).catch(fail);
