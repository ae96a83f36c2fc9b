// The systemd *user* unit that runs `sealmail start` in the background.
//
// The passphrase reaches the service as a systemd credential
// (LoadCredential=, read from $CREDENTIALS_DIRECTORY/passphrase): the file
// stays 0600 in the user's config dir and systemd hands it to the process
// only, never through the environment or the command line.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { writePrivateFile } from './paths.js';

export const UNIT_NAME = 'sealmail.service';

export interface UnitOptions {
  /** Absolute path of the node binary. */
  node: string;
  /** Absolute path of bin/sealmail.js. */
  entry: string;
  /** A 0600 file holding the passphrase, passed as a systemd credential. */
  passphraseFile?: string;
  /** Where the user's guide is (a file:// or https:// URL); `man:sealmail(1)` does not exist. */
  documentation?: string;
  /** Environment to pin (XDG dirs), so the service sees the same config as the user's shell. */
  environment?: Record<string, string>;
}

export function renderUnit(opts: UnitOptions): string {
  const env = Object.entries(opts.environment ?? {}).map(([k, v]) => `Environment=${quoteUnitValue(`${k}=${v}`)}`);
  return [
    '[Unit]',
    'Description=sealmail end-to-end encrypted mail daemon (local IMAP and SMTP)',
    ...(opts.documentation ? [`Documentation=${quoteUnitValue(opts.documentation)}`] : []),
    // No After=/Wants=network-online.target: a user manager has no such unit
    // (it is the system manager's), so they were silently ignored; a daemon
    // started before the network is up syncs once the provider is reachable.
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${quoteUnitValue(opts.node)} ${quoteUnitValue(opts.entry)} start`,
    ...(opts.passphraseFile ? [`LoadCredential=passphrase:${opts.passphraseFile}`] : []),
    ...env,
    // JSON logs under systemd (journald adds the timestamps).
    'Environment=SEALMAIL_LOG_FORMAT=json',
    // libuv's thread pool (LevelDB reads and writes, fs, async crypto, DNS)
    // no larger than the machine's cores (2 to 4; libuv's default is 4). On 2
    // cores, 4 pool threads beside the main thread, LevelDB's compaction and
    // V8's helpers cost more CPU (more wake-ups and hand-offs) and stall the
    // main thread, which waits for a core inside LevelDB calls: ingesting a
    // burst of 1,000 incoming messages took 0.3-0.6 ms less CPU per message
    // and ran 10-25% faster in three of four A/B sets (even in the fourth);
    // IMAP (mixed clients, FETCH) and restore were not slower. The cost: DNS
    // lookups run there too, so on such a machine two that hang (a broken
    // resolver) hold every LevelDB call until they time out. Only the
    // environment can size the pool: it starts while node loads the entry
    // module, before any code of ours runs.
    `Environment=UV_THREADPOOL_SIZE=${threadPoolSize()}`,
    'Restart=on-failure',
    // A wrong or outdated passphrase (exit 78, account.ts) is not fixed by retrying.
    'RestartPreventExitStatus=78',
    'RestartSec=5s',
    // Graceful shutdown finishes the current write and flushes the queue.
    'TimeoutStopSec=30s',
    'UMask=0077',
    'NoNewPrivileges=yes',
    'LockPersonality=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'SystemCallArchitectures=native',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

/** The libuv thread pool size for this machine (see renderUnit). */
export function threadPoolSize(cores = availableParallelism()): number {
  return Math.max(2, Math.min(4, cores));
}

/** systemd unit values: quote when they contain spaces, escape specifiers (%) and quotes. */
function quoteUnitValue(value: string): string {
  const escaped = value.replace(/%/g, '%%');
  return /[\s"\\]/.test(escaped) ? `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : escaped;
}

export function unitPath(env: NodeJS.ProcessEnv = process.env): string {
  const configHome = env.XDG_CONFIG_HOME || join(env.HOME ?? '', '.config');
  return join(configHome, 'systemd', 'user', UNIT_NAME);
}

export function writeUnit(path: string, text: string): void {
  writePrivateFile(path, text);
}

export function removeUnit(path: string): boolean {
  if (!existsSync(path)) return false;
  rmSync(path);
  return true;
}
