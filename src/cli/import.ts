// `sealmail import PATH...`: mbox files and Maildirs into a mailbox
// (src/mail/import). With the daemon running, through its control socket:
// the daemon holds the only handle on the store, and its IMAP clients see
// each message at once; otherwise the account's store is opened here under
// the daemon's lock (a daemon started meanwhile is refused, not corrupted).
import { join } from 'node:path';
import type { Command } from 'commander';
import { ControlConnection } from '../daemon/control.js';
import { openAccount } from '../daemon/account.js';
import { lockDataDir } from '../daemon/lock.js';
import { passphraseSource } from '../daemon/passphrase.js';
import { blobGcTiming, type AccountConfig, type BlobGcConfig } from '../daemon/config.js';
import { openImportSource, runImport, type ImportProgress, type ImportSource, type ImportTarget } from '../mail/import/run.js';
import { deliverImported, prepareMailbox } from '../mail/import/store-target.js';
import { cliContext, findAccount, requireConfig } from './context.js';
import { countProgressBar } from './progress.js';

interface ImportOpts {
  account?: string;
  mailbox: string;
  passphraseFile?: string;
}

/** The running daemon, over one control connection; null when no daemon answers on the control socket. */
async function daemonTarget(dataDir: string, account: string): Promise<{ target: ImportTarget; close(): Promise<void> } | null> {
  let conn: ControlConnection;
  try {
    conn = await ControlConnection.open(join(dataDir, 'control.sock'));
  } catch {
    return null;
  }
  const ask = (method: string, params: Record<string, string>): Promise<unknown> => conn.request({ method, account, params });
  return {
    target: {
      begin: async (p) => new Map(Object.entries((await ask('import.begin', { progress: JSON.stringify(p) })) as Record<string, number>)),
      deliver: async (mailbox, batch) => {
        const messages = batch.map(({ message: m, deliveryId }) => ({ deliveryId, raw: m.raw.toString('base64'), flags: m.flags, internalDate: m.internalDate }));
        return ((await ask('import.messages', { mailbox, messages: JSON.stringify(messages) })) as { duplicates: boolean[] }).duplicates;
      },
      report: async (p) => void (await ask('import.report', { progress: JSON.stringify(p) })),
    },
    close: async () => conn.close(),
  };
}

/** No daemon: the account's store opened here, under the daemon's lock. */
async function directTarget(dataDir: string, account: AccountConfig, passphraseFile: string | undefined, blobGc: BlobGcConfig | undefined): Promise<{ target: ImportTarget; close(): Promise<void> }> {
  // What we create in the store is private to the user, as the daemon's (daemon.ts).
  process.umask(0o077);
  const release = await lockDataDir(dataDir);
  try {
    // The configuration's blob GC settings hold here too (a long import runs the collector like the daemon).
    const runtime = await openAccount({ config: account, dataDir, passphrase: await passphraseSource(passphraseFile)(account), blobGc: blobGcTiming(blobGc) });
    return {
      target: {
        begin: (p) => prepareMailbox(runtime.mail, p.mailbox),
        deliver: (mailbox, batch) => deliverImported(runtime.mail, mailbox, batch),
        report: async () => undefined,
      },
      close: async () => {
        await runtime.close();
        await release();
      },
    };
  } catch (err) {
    await release();
    throw err;
  }
}

/** A bar in a terminal; otherwise a plain line every few seconds (logs, pipes). */
function progressReporter(total: number): { update(p: ImportProgress): void; stop(): void } {
  const bar = countProgressBar('importing', 'messages', total);
  let printed = Date.now();
  return {
    update(p) {
      if (bar) return bar.update(p.done, p.skipped ? `(${p.skipped} already there)` : '');
      if (Date.now() - printed < 2000) return;
      printed = Date.now();
      console.log(`imported ${p.done} of ${p.total} messages (${p.skipped} already there)`);
    },
    stop: () => bar?.stop(),
  };
}

export function registerImport(program: Command): void {
  program
    .command('import <paths...>')
    .description('import mail from mbox files and Maildir directories into a mailbox, byte for byte (mail already there is skipped, so running it twice adds nothing)')
    .option('--account <address>', 'which account (default: the first)')
    .option('--mailbox <name>', 'the mailbox to import into (created when missing)', 'INBOX')
    .option('--passphrase-file <file>', 'when the daemon is not running: read the passphrase from this 0600 file')
    .action(async (paths: string[], o: ImportOpts) => {
      const ctx = cliContext();
      const config = requireConfig(ctx);
      const account = findAccount(config, o.account);
      const sources: ImportSource[] = [];
      for (const path of paths) sources.push(await openImportSource(path));
      const total = sources.reduce((n, s) => n + s.total, 0);
      // The control socket, not status.json, tells whether a daemon runs: the status file is written a moment after start.
      const daemon = await daemonTarget(ctx.paths.dataDir, account.address);
      console.log(`importing ${total} messages (${sources.map((s) => `${s.path}: ${s.kind}, ${s.total}`).join('; ')}) into ${o.mailbox} of ${account.address}${daemon ? ' through the running daemon' : ''} ...`);
      const { target, close } = daemon ?? (await directTarget(ctx.paths.dataDir, account, o.passphraseFile, config.blobGc));
      const reporter = progressReporter(total);
      let result: ImportProgress;
      try {
        result = await runImport(target, sources, { mailbox: o.mailbox, onProgress: (p) => reporter.update(p) });
      } finally {
        reporter.stop();
        await close();
      }
      console.log(`imported ${result.imported} messages into ${o.mailbox} of ${account.address}; ${result.skipped} were already there.`);
    });
}
