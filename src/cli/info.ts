// `sealmail status` and `sealmail settings`.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { DaemonStatus } from '../daemon/daemon.js';
import { autoconfigXml, settingsText } from '../daemon/settings.js';
import { UserError } from '../util/user-error.js';
import { cliContext, findAccount, requireConfig } from './context.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running daemon's status (it rewrites status.json every 2 s), or null when none runs. */
export function readDaemonStatus(dataDir: string): DaemonStatus | null {
  const file = join(dataDir, 'status.json');
  if (!existsSync(file)) return null;
  try {
    const status = JSON.parse(readFileSync(file, 'utf8')) as DaemonStatus;
    return alive(status.pid) ? status : null;
  } catch {
    return null;
  }
}

/** "pulling 120 of 450 documents (26%)" while catching up; what was pulled otherwise. */
export function pullLine(p: DaemonStatus['accounts'][number]['progress']): string {
  if (p.active) {
    const of = p.total !== null && p.total > 0 ? ` of ${p.total} documents (${Math.floor((100 * p.pulled) / p.total)}%)` : ' documents';
    return `pulling from the provider: ${p.pulled}${of}`;
  }
  return `pulled: ${p.sinceStart} documents since start${p.pulled > 0 ? ` (${p.pulled} in the last catch-up)` : ''}`;
}

/** "importing 120 of 200 messages into INBOX (60%), 3 already there" while running; the outcome after. */
export function importLine(p: NonNullable<DaemonStatus['accounts'][number]['import']>): string {
  const counts = `${p.imported} imported, ${p.skipped} already there`;
  if (p.active) return `importing into ${p.mailbox}: ${p.done} of ${p.total} messages (${p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100}%), ${counts}`;
  return `last import into ${p.mailbox} (${p.source}): ${counts}${p.error ? `, stopped early: ${p.error}` : ''}, finished ${p.finishedAt ?? ''}`;
}

/** Space given back by blob garbage collection (src/mail/store/blob-gc.ts); no message content. */
export function blobGcLine(g: DaemonStatus['accounts'][number]['blobGc']): string {
  // Off, this device deletes nothing (it still answers other devices' proposals): say so, not "0 freed".
  if (g.enabled === false) return `expunged content: kept, blob garbage collection is off ("blobGc": {"enabled": false} in config.json)${g.lastError ? `, last error: ${g.lastError}` : ''}`;
  const mb = (g.freedBytes / 1e6).toFixed(1);
  return `expunged content: ${g.freedBlobs} freed (${mb} MB) since start, ${g.pending} waiting${g.lastError ? `, last error: ${g.lastError}` : ''}`;
}

/**
 * A sync error as the user reads it: a connection failure says the provider
 * is unreachable and where; any other names the provider by its address, not
 * by the URL of a database request (its path holds the database's hash).
 */
export function syncErrorText(error: string): string {
  const m = /\b(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)\b(?: ([^\s,]+))?/.exec(error);
  if (m) return `the provider is unreachable (${m[1]}${m[2] ? ` ${m[2]}` : ''}); retrying`;
  return error.replace(/(https?:\/\/[^/\s]+)\/\S*?(:?)(?=\s|$)/g, '$1/$2');
}

function formatStatus(s: DaemonStatus): string {
  const lines = [
    `sealmail daemon running (pid ${s.pid}, since ${s.startedAt})`,
    `  IMAP ${s.imap.host}:${s.imap.port}   SMTP ${s.smtp.host}:${s.smtp.port}`,
    `  certificate SHA-256 ${s.certificateFingerprint}`,
    `  provider: ${s.provider.embedded ? `embedded (${s.provider.url})` : 'remote'}`,
  ];
  for (const a of s.accounts) {
    lines.push(
      `  ${a.address}`,
      ...(a.problem ? [`    PROBLEM: ${a.problem}`] : []),
      `    sync: ${a.sync.state}${a.sync.connected ? ', connected' : ''}, ${a.sync.pending} pending, last sync ${a.sync.lastSync ?? 'never'}${a.sync.lastError ? `, last error: ${syncErrorText(a.sync.lastError)}` : ''}`,
      ...(a.progress ? [`    ${pullLine(a.progress)}`] : []),
      `    incoming: ${a.fetch.processed} processed, ${a.fetch.failed} failed, ${a.fetch.undecryptable} undecryptable`,
      `    outgoing: ${a.outgoing.queued} queued, ${a.outgoing.sent} sent, ${a.outgoing.bounced} bounced`,
      ...(a.import ? [`    ${importLine(a.import)}`] : []),
      ...(a.blobGc ? [`    ${blobGcLine(a.blobGc)}`] : []),
    );
  }
  return lines.join('\n');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show the running daemon: sync state, incoming backlog, outgoing queue, ports, certificate fingerprint')
    .option('--json', 'print machine-readable JSON')
    .action((opts: { json?: boolean }) => {
      const ctx = cliContext();
      const status = readDaemonStatus(ctx.paths.dataDir);
      if (!status) {
        const config = ctx.config;
        throw new UserError(
          config ? `the daemon is not running (configured accounts: ${config.accounts.map((a) => a.address).join(', ')}); start it with \`sealmail start\` (or \`npm start\` in the sealmail directory)` : 'the daemon is not running and nothing is configured yet; run `sealmail start` (or `npm start` in the sealmail directory)',
        );
      }
      console.log(opts.json ? JSON.stringify(status, null, 2) : formatStatus(status));
    });
}

export function registerSettings(program: Command): void {
  program
    .command('settings')
    .description('print the mail client settings (host, ports, username, local password)')
    .option('--account <address>', 'which account (default: the first)')
    .option('--autoconfig <file>', 'also write a Thunderbird autoconfig XML file')
    .action((opts: { account?: string; autoconfig?: string }) => {
      const ctx = cliContext();
      const config = requireConfig(ctx);
      const account = findAccount(config, opts.account);
      const status = readDaemonStatus(ctx.paths.dataDir);
      console.log(settingsText(config, account, status?.certificateFingerprint));
      if (opts.autoconfig) {
        writeFileSync(opts.autoconfig, autoconfigXml(config, account));
        console.log(`\nThunderbird autoconfig written to ${opts.autoconfig}`);
      }
    });
}
