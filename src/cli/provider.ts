// `sealmail provider start`: run the provider (accounts, sync gateway, MX,
// key directory/WKD, submission relay) as its own process.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { startProvider } from '../provider/index.js';
import { tuneGcForMessageBuffers } from '../provider/gc-tuning.js';
import { parseCompactionSetting, type CompactionPolicy } from '../provider/couchdb/compaction.js';
import { UserError } from '../util/user-error.js';
import { resolvePaths } from '../daemon/paths.js';
import { fail } from './errors.js';

const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UserError(`${v} is not a port number`);
  return n;
};

const compaction = (v: string): CompactionPolicy | false => {
  const setting = parseCompactionSetting(v);
  if (setting === null) throw new UserError(`--compaction ${v}: give off or a time between passes such as 30s, 5m or 2h (1 s to 24 h)`);
  return setting;
};

const workerCount = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new UserError(`--encryption-workers ${v}: give a number of threads from 0 to 64`);
  return n;
};

export function registerProvider(program: Command): void {
  const provider = program.command('provider').description('run a sealmail provider');
  provider
    .command('start')
    .description('start the provider in the foreground')
    .requiredOption('--domain <domain...>', 'mail domain(s) this provider serves')
    .option('--data <dir>', 'provider data directory (default: $XDG_DATA_HOME/sealmail/provider)')
    .option('--couch-url <url>', 'an Apache CouchDB (with admin credentials in the URL) instead of the embedded server')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--http-port <port>', 'HTTP API, key directory, WKD and sync gateway', port, 8080)
    .option('--mx-port <port>', 'inbound SMTP', port, 25)
    .option('--submission-port <port>', 'authenticated submission', port, 587)
    .option('--relay <host:port>', 'smarthost for mail to other domains')
    .option('--compaction <every|off>', 'time between passes giving deleted data\'s disk space back (default 5m; 1h with --couch-url), or off', compaction)
    .option('--encryption-workers <n>', 'threads that encrypt incoming mail off the event loop (default 0: on it); pays where cores are to spare', workerCount)
    .action(async (o: { domain: string[]; data?: string; couchUrl?: string; host: string; httpPort: number; mxPort: number; submissionPort: number; relay?: string; compaction?: CompactionPolicy | false; encryptionWorkers?: number }) => {
      let relay: { host: string; port: number } | undefined;
      if (o.relay) {
        const m = /^(.+):(\d+)$/.exec(o.relay);
        if (!m) throw new UserError(`--relay ${o.relay} must be host:port`);
        relay = { host: m[1]!, port: port(m[2]!) };
      }
      // This process is the provider alone: its GC is set for the MX's message buffers.
      tuneGcForMessageBuffers();
      const p = await startProvider({
        dataDir: resolve(o.data ?? `${resolvePaths().dataDir}/provider`),
        domains: o.domain,
        host: o.host,
        httpPort: o.httpPort,
        mxPort: o.mxPort,
        submissionPort: o.submissionPort,
        ...(o.couchUrl ? { couchUrl: o.couchUrl } : {}),
        ...(relay ? { relay } : {}),
        ...(o.compaction !== undefined ? { compaction: o.compaction } : {}),
        ...(o.encryptionWorkers !== undefined ? { encryptionWorkers: o.encryptionWorkers } : {}),
      });
      console.log(`sealmail provider for ${o.domain.join(', ')}: API ${p.httpUrl}  MX port ${p.mxPort}  submission port ${p.submissionPort}`);
      const stop = (): void => void p.close().then(() => process.exit(0), fail);
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
