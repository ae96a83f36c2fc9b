// The sealmail daemon: one IMAP server and one SMTP gateway on localhost for
// every configured account, each account with its synced store and fetch
// loop; optionally the embedded provider (the quickstart) in the same process.
import { join } from 'node:path';
import { startImapServer, type ImapServer } from '../imap/server.js';
import { startSmtpGateway, OutgoingQueue, type SmtpGateway, type RelayConfig } from '../smtp/index.js';
import type { Provider } from '../provider/index.js';
import type { KdfParams, SyncStatus } from '../soledad/index.js';
import { openAccount, type AccountRuntime } from './account.js';
import { blobGcTiming, type AccountConfig, type SealmailConfig } from './config.js';
import { ensurePrivateDir, writePrivateFile, type SealmailPaths } from './paths.js';
import { ProviderClient } from './provider-client.js';
import { loadOrCreateCertificate } from './tls.js';
import { startControlSocket } from './control.js';
import { lockDataDir } from './lock.js';
import { assertPortsFree } from './ports.js';
import { UserError } from '../util/user-error.js';
import { secretsEqual } from '../util/secret-compare.js';
import { logger } from '../util/log.js';
import { AuthThrottle } from '../util/auth-throttle.js';
import { applyDaemonHeapPolicy } from './heap-policy.js';
import type { BlobGcStats, BlobGcTiming } from '../mail/store/blob-gc.js';

const log = logger('daemon');

export interface DaemonOptions {
  paths: SealmailPaths;
  config: SealmailConfig;
  passphraseFor(account: AccountConfig): Promise<string>;
  /** Accounts to create at the provider (quickstart) instead of opening, by address. */
  create?: Record<string, 'new' | 'restore'>;
  /** Test knobs: small KDF costs. */
  kdf?: KdfParams;
  loginCost?: number;
  providerScrypt?: { N: number; r: number; p: number };
  /** Blob garbage collection timing of every account (tests use short ones), over config.json's "blobGc". */
  blobGc?: BlobGcTiming;
}

export interface DaemonStatus {
  pid: number;
  startedAt: string;
  imap: { host: string; port: number };
  smtp: { host: string; port: number };
  certificateFingerprint: string;
  provider: { embedded: boolean; url?: string };
  accounts: Array<{
    address: string;
    sync: ReturnType<AccountRuntime['soledad']['syncStatus']>;
    /** Documents pulled from the provider: the current or last catch-up, and since start. */
    progress: AccountRuntime['pullProgress']['progress'];
    fetch: { processed: number; failed: number; undecryptable: number };
    outgoing: { queued: number; sent: number; bounced: number };
    /** What keeps the account from working (the provider ended its session), or null. */
    problem: string | null;
    /** The running or last `sealmail import`, or null. */
    import: AccountRuntime['importProgress'];
    /** Content of expunged messages deleted by this device since start, and deletions waiting; enabled false: config.json turned collection off. */
    blobGc: BlobGcStats & { enabled: boolean };
  }>;
}

export interface Daemon {
  accounts: AccountRuntime[];
  imap: ImapServer;
  smtp: SmtpGateway;
  queue: OutgoingQueue;
  provider: Provider | null;
  status(): Promise<DaemonStatus>;
  close(): Promise<void>;
}

/** Starts the embedded provider of the quickstart config, if there is one. */
async function maybeStartProvider(opts: DaemonOptions): Promise<Provider | null> {
  const e = opts.config.embeddedProvider;
  if (!e) return null;
  // Loaded only here: with a provider elsewhere the daemon never pays for
  // express, express-pouchdb and the MX/submission servers at start.
  const { startProvider } = await import('../provider/index.js');
  return startProvider({
    dataDir: join(opts.paths.dataDir, 'provider'),
    domains: [e.domain],
    host: e.host,
    httpPort: e.httpPort,
    mxPort: e.mxPort,
    submissionPort: e.submissionPort,
    ...(e.relay ? { relay: e.relay } : {}),
    ...(opts.providerScrypt ? { scrypt: opts.providerScrypt } : {}),
  });
}

type Closer = () => Promise<void>;

/**
 * Awaits every start-up step at once. Each step that succeeded gets its
 * closer pushed to `cleanups` (in the given order) even when another failed,
 * so a failure closes everything that did start; then the first failure is thrown.
 */
async function startedTogether<T extends readonly unknown[]>(
  cleanups: Closer[],
  steps: { readonly [K in keyof T]: Promise<T[K]> },
  closers: { readonly [K in keyof T]: (value: T[K]) => Closer | null },
): Promise<T> {
  const settled = await Promise.allSettled(steps as readonly Promise<unknown>[]);
  settled.forEach((s, i) => {
    const closer = s.status === 'fulfilled' ? (closers[i] as (v: unknown) => Closer | null)(s.value) : null;
    if (closer) cleanups.push(closer);
  });
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { paths, config } = opts;
  if (config.accounts.length === 0) throw new UserError('no account is configured; run `sealmail account create` or start without a configuration for the quickstart');
  // Everything this process creates from now on (LevelDB stores, blobs, the embedded provider's
  // data) is private to the user: LevelDB and PouchDB create with the default umask (0644/0755).
  process.umask(0o077);
  applyDaemonHeapPolicy();
  ensurePrivateDir(paths.dataDir);
  const release = await lockDataDir(paths.dataDir);
  const cleanups: Array<() => Promise<void>> = [() => release()];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((err: Error) => log.error({ err: err.message }, 'shutdown step failed'));
  };
  try {
    // Every port in use named at once, before a passphrase is asked or an account created.
    await assertPortsFree(config);
    // Asked one after the other (a terminal prompt each), before anything starts.
    const passphrases: string[] = [];
    for (const account of config.accounts) passphrases.push(await opts.passphraseFor(account));
    const [provider, tls] = await startedTogether(cleanups, [maybeStartProvider(opts), loadOrCreateCertificate(paths.configDir)] as const, [
      (p) => (p ? () => p.close() : null),
      () => null,
    ]);
    const gcTiming = { ...blobGcTiming(config.blobGc), ...opts.blobGc };
    // Accounts open side by side: their LevelDB reads overlap the others'
    // index loading (the start-up of a daemon with several accounts is the
    // slowest one's, not the sum). Their passphrase KDFs take turns
    // (src/soledad/secrets.ts: 128 MiB each while it runs).
    const accounts = await startedTogether(
      cleanups,
      config.accounts.map((account, i) =>
        openAccount({
          config: account,
          dataDir: paths.dataDir,
          passphrase: passphrases[i]!,
          create: opts.create?.[account.address],
          kdf: opts.kdf,
          loginCost: opts.loginCost,
          blobGc: gcTiming,
        }),
      ),
      config.accounts.map(() => (runtime: AccountRuntime) => () => runtime.close()),
    );
    const byAddress = new Map(accounts.map((a) => [a.config.address, a]));

    // One throttle for both: guesses spread over IMAP and SMTP still share one budget.
    const authThrottle = new AuthThrottle();
    // IMAP first: what the user waits for at start (mail is readable); the
    // outgoing side (relays, queue, SMTP gateway) comes up right after.
    const imap = await startImapServer({
      host: config.imap.host,
      port: config.imap.port,
      tls,
      authThrottle,
      authenticate: async (user, password) => {
        const a = byAddress.get(user.toLowerCase());
        return a && secretsEqual(password, a.config.localPassword) ? a.mail : null;
      },
    });
    cleanups.push(() => imap.close());

    // Where each sender's mail is relayed: its provider's submission server, authenticated with its token.
    // Asked of the provider at start and again when sync reconnects: the
    // daemon starts while the provider is unreachable (mail waits in the queue).
    const relays = new Map<string, RelayConfig>();
    const resolveRelays = async (): Promise<void> => {
      for (const a of accounts) {
        if (relays.has(a.config.address)) continue;
        try {
          const submission = provider && config.embeddedProvider
            ? { host: config.embeddedProvider.host, port: provider.submissionPort }
            : (await new ProviderClient(a.config.providerUrl).info()).submission;
          relays.set(a.config.address, { ...submission, user: a.config.address, token: a.session.token });
        } catch (err) {
          log.warn({ account: a.config.address, err: (err as Error).message }, 'provider unreachable; outgoing mail waits in the queue');
        }
      }
    };
    await resolveRelays();
    // One device-local queue (in the first account's local store) serves every account.
    const queue = new OutgoingQueue({
      store: accounts[0]!.soledad.local,
      relay: (from) => {
        const relay = relays.get(from.toLowerCase());
        if (!relay) throw new Error(`no relay for ${from}`);
        return relay;
      },
      deliverBounce: async (raw, item) => {
        const account = byAddress.get(item.from.toLowerCase()) ?? accounts[0]!;
        await account.mail.deliver('INBOX', raw, { deliveryId: `bounce:${item.id}` });
      },
    });
    await queue.start();
    cleanups.push(() => queue.stop());
    // Sync reconnecting after an outage means the provider is back: relay the
    // queued mail now rather than at its backoff time (up to hours later).
    for (const a of accounts) {
      let offline = false;
      a.soledad.on('sync', (s: SyncStatus) => {
        if (!s.connected) offline = true;
        else if (offline) {
          offline = false;
          void resolveRelays().then(() => queue.flush());
        }
      });
    }

    const smtp = await startSmtpGateway({
      authThrottle,
      host: config.smtp.host,
      port: config.smtp.port,
      tls,
      queue,
      accounts: accounts.map((a) => ({
        address: a.config.address,
        password: a.config.localPassword,
        keymanager: a.keys,
        // Read at each RCPT: `sealmail account set --always-encrypt` changes it in the running daemon.
        get alwaysEncrypt() {
          return a.config.alwaysEncrypt;
        },
      })),
    });
    cleanups.push(() => smtp.close());

    const control = startControlSocket(join(paths.dataDir, 'control.sock'), accounts);
    cleanups.push(() => control.close());
    for (const a of accounts) a.fetch.start();
    const startedAt = new Date().toISOString();
    const daemon: Daemon = {
      accounts,
      imap,
      smtp,
      queue,
      provider,
      async status() {
        const items = await queue.list();
        return {
          pid: process.pid,
          startedAt,
          imap: { host: config.imap.host, port: imap.port },
          smtp: { host: smtp.host, port: smtp.port },
          certificateFingerprint: tls.fingerprint,
          provider: provider ? { embedded: true, url: provider.httpUrl } : { embedded: false },
          accounts: accounts.map((a) => {
            const mine = items.filter((i) => i.from.toLowerCase() === a.config.address);
            return {
              address: a.config.address,
              sync: a.soledad.syncStatus(),
              progress: a.pullProgress.progress,
              fetch: { processed: a.fetch.stats.processed, failed: a.fetch.stats.failed, undecryptable: a.fetch.stats.undecryptable.size },
              outgoing: {
                queued: mine.filter((i) => i.state === 'queued').length,
                sent: mine.filter((i) => i.state === 'sent').length,
                bounced: mine.filter((i) => i.state === 'bounced').length,
              },
              problem: a.problem,
              import: a.importProgress,
              blobGc: { ...a.blobGc.stats, enabled: gcTiming.propose !== false },
            };
          }),
        };
      },
      close: closeAll,
    };
    startStatusFile(daemon, join(paths.dataDir, 'status.json'), cleanups);
    log.info({ imap: imap.port, smtp: smtp.port, accounts: accounts.length }, 'daemon ready');
    return daemon;
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** `sealmail status` reads this file: the daemon rewrites it every 2 s (0600). */
function startStatusFile(daemon: Daemon, file: string, cleanups: Array<() => Promise<void>>): void {
  const write = async (): Promise<void> => {
    try {
      // Atomically (temp file + rename): `sealmail status` must never read half a file.
      writePrivateFile(file, JSON.stringify(await daemon.status(), null, 2));
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not write the status file');
    }
  };
  void write();
  const timer = setInterval(() => void write(), 2000);
  timer.unref();
  cleanups.push(async () => {
    clearInterval(timer);
    const { rmSync } = await import('node:fs');
    rmSync(file, { force: true });
  });
}
