// `sealmail start`: the daemon in the foreground. With no configuration it
// runs the quickstart first (embedded provider, two accounts, welcome mail).
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { accountStoreDir } from '../daemon/account.js';
import { startDaemon, type Daemon } from '../daemon/daemon.js';
import type { SealmailConfig } from '../daemon/config.js';
import { passphraseSource, startPassphraseFiles } from '../daemon/passphrase.js';
import { LISTEN_SETTINGS, type Listener } from '../daemon/ports.js';
import { quickstartConfig, saveQuickstartConfig, sendWelcomeIfPending } from '../daemon/quickstart.js';
import { settingsText } from '../daemon/settings.js';
import { logger } from '../util/log.js';
import { cliContext } from './context.js';
import { describeError, fail, UserError } from './errors.js';

const log = logger('cli');

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the daemon in the foreground (IMAP 127.0.0.1:1984, SMTP 127.0.0.1:2013); the first run without configuration sets up a local quickstart')
    .option(
      '--passphrase-file <file>',
      'read the passphrase from this 0600 file; with several accounts, for those without a passphrase file of their own; ADDRESS=FILE for one account (repeatable)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .action(async (opts: { passphraseFile: string[] }) => {
      const ctx = cliContext();
      const quickstart = ctx.config === null;
      const config = ctx.config ?? quickstartConfig(ctx.paths);
      const explicit = startPassphraseFiles(opts.passphraseFile, config.accounts);
      if (explicit.note) console.log(`sealmail: ${explicit.note}`);
      if (quickstart) console.log(`sealmail: first start — setting up a local provider for ${config.embeddedProvider?.domain} and your account ${config.accounts[0]?.address} ...`);
      // Before the start: IMAP takes clients while the rest still starts, and a
      // SIGTERM then must still close the stores (index snapshot, UIDs).
      const shutdown = installShutdown();
      let daemon: Daemon;
      try {
        daemon = await startDaemon({
          paths: ctx.paths,
          config,
          passphraseFor: (account) => passphraseSource(explicit.files.get(account.address))(account),
          create: quickstart ? Object.fromEntries(config.accounts.map((a) => [a.address, 'new' as const])) : undefined,
        });
      } catch (err) {
        const kept = quickstart && config.accounts.every((a) => existsSync(accountStoreDir(ctx.paths.dataDir, a.address)));
        const inUse = portInUseMessage(err, config, !quickstart || kept ? ctx.paths.configFile : null);
        if (!kept) throw inUse ? new UserError(inUse) : err;
        // A later step failed (a port in use) after the accounts were created:
        // keep their configuration, or every later start refuses their data.
        saveQuickstartConfig(ctx.paths, config);
        throw new UserError(`${inUse ?? describeError(err)} (the quickstart's accounts are set up and kept in ${ctx.paths.configFile}; start again once that is fixed)`, err instanceof UserError ? err.exitCode : 1);
      }
      // Saved even when a signal came during the start: the accounts exist now
      // (at the provider and in the data dir), and a start without this
      // configuration refuses their data.
      if (quickstart) saveQuickstartConfig(ctx.paths, config);
      if (shutdown.started(daemon)) return;
      // The quickstart's first start that gets this far (usually the first start itself).
      const welcomed = await sendWelcomeIfPending(ctx.paths, config);
      const status = await daemon.status();
      console.log('sealmail is running. Mail client settings:\n');
      // The password when the quickstart's accounts are first served (it was just made) or to a terminal; not into every start's log.
      console.log(settingsText(config, config.accounts[0]!, status.certificateFingerprint, { password: welcomed || process.stdout.isTTY === true }));
      if (welcomed) console.log(`\nA welcome message from ${config.accounts[1]?.address} is on its way to your INBOX.`);
      console.log(`\nConfiguration: ${ctx.paths.configFile}\nData: ${ctx.paths.dataDir}\nStop with Ctrl-C (or SIGTERM).`);
    });
}

/**
 * The ports in use (every one the daemon's pre-flight found, else the one a
 * listen failed on), each with the setting that moves it: its key in the
 * saved configuration file, or (no configuration saved yet: a first start)
 * its environment variable. Null for any other error.
 */
export function portInUseMessage(err: unknown, config: SealmailConfig, configFile: string | null): string | null {
  const e = err as { code?: string; port?: number; address?: string; listeners?: Listener[] } | null;
  if (!e || e.code !== 'EADDRINUSE') return null;
  const taken = e.listeners ?? [{ port: e.port ?? 0, host: e.address ?? 'localhost' }];
  const settings = taken.map(({ port }) => LISTEN_SETTINGS.find(({ listener }) => listener(config)?.port === port));
  const ports = and(taken.map((l) => String(l.port)));
  const hosts = [...new Set(taken.map((l) => l.host))].join(', ');
  const several = taken.length > 1;
  const change = settings.some((s) => !s)
    ? 'choose another port in the configuration'
    : configFile
      ? `change ${and(settings.map((s) => s!.key))} in ${configFile}`
      : `start with ${settings.map((s) => `${s!.variable}=<another port>`).join(' ')}`;
  return `port${several ? 's' : ''} ${ports} on ${hosts} ${several ? 'are' : 'is'} already in use; stop the other program${several ? 's' : ''} or ${change}`;
}

/** "a", "a and b", "a, b and c". */
const and = (items: string[]): string => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

/**
 * SIGTERM/SIGINT close the daemon and exit. A signal during the start is
 * acted on once the daemon is up (`started` then closes it and returns true);
 * a second one during the start exits at once.
 */
function installShutdown(): { started(daemon: Daemon): boolean } {
  let daemon: Daemon | null = null;
  let stopping = false;
  const close = (d: Daemon): void => {
    d.close()
      .then(() => process.exit(0))
      .catch(fail);
  };
  const stop = (signal: string): void => {
    if (stopping) {
      if (daemon) return; // closing already
      log.warn({ signal }, 'second signal during the start: exiting without closing');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, daemon ? 'shutting down' : 'shutting down once started');
    if (daemon) close(daemon);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return {
    started(d) {
      daemon = d;
      if (stopping) close(d);
      return stopping;
    },
  };
}
