// One account at run time: its encrypted store (Soledad, synced with the
// provider through the gateway), its keys, its mail store and its fetch loop.
import { join } from 'node:path';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { Soledad, WrongPassphraseError, type KdfParams, type SyncStatus } from '../soledad/index.js';
import { KeyManager, OWN_KEY_DOC } from '../keymanager/index.js';
import { decryptIncoming } from '../keymanager/incoming.js';
import type { KeyAlgorithm } from '../keymanager/keys.js';
import { openMailStore, MAIL_MERGE_RULES, type OpenedMailStore } from '../mail/store/index.js';
import { BlobGc, indexEntriesOf, mailDeviceId, type BlobGcTiming } from '../mail/store/blob-gc.js';
import { BLOB_GC_MERGE_RULES } from '../mail/store/blob-gc-docs.js';
import { FetchLoop } from '../fetch/loop.js';
import { importAttachedKeys } from '../fetch/attached-keys.js';
import { StatusMemoStore } from '../fetch/status-memo.js';
import type { MessageStatus } from '../fetch/status-headers.js';
import type { AccountConfig } from './config.js';
import { providerPassword } from './credentials.js';
import { EXIT_PASSPHRASE } from './passphrase.js';
import { ProviderClient, ProviderRefusedError, type ProviderSession } from './provider-client.js';
import { ensurePrivateDir, writePrivateFile } from './paths.js';
import { PullProgressTracker, remainingChanges, trackPulls, type PullProgress } from './sync-progress.js';
import type { ImportProgress } from '../mail/import/run.js';
import { UserError } from '../util/user-error.js';
import { logger } from '../util/log.js';

export interface AccountRuntime {
  config: AccountConfig;
  soledad: Soledad;
  keys: KeyManager;
  mail: OpenedMailStore;
  fetch: FetchLoop;
  /** Deletes the content of messages expunged everywhere (its stats are in `sealmail status`). */
  blobGc: BlobGc;
  session: ProviderSession;
  /** Documents pulled from the provider by the live sync (`sealmail status`). */
  pullProgress: PullProgressTracker;
  /** What keeps this account from working, for `sealmail status` (the provider ended the session); null when nothing. */
  readonly problem: string | null;
  /** A `sealmail import` under way or last finished through this daemon (`sealmail status`). */
  importProgress: ImportProgress | null;
  close(): Promise<void>;
}

export interface OpenAccountOptions {
  config: AccountConfig;
  /** The daemon's data dir; the account lives in <dataDir>/accounts/<address>. */
  dataDir: string;
  passphrase: string;
  /** Create the account (here and at the provider) instead of opening it. */
  create?: 'new' | 'restore';
  /** scrypt parameters for wrapping the storage secret (tests use small ones). */
  kdf?: KdfParams;
  /** scrypt cost of the provider login password (tests use small ones). */
  loginCost?: number;
  /** Progress of the initial pull of a restore (a new device). */
  onRestoreProgress?: (p: PullProgress) => void;
  /** Algorithm of the key generated for a new account (default curve25519); an existing key is kept. */
  keyType?: KeyAlgorithm;
  /** Blob garbage collection timing (tests use short ones; defaults in blob-gc.ts). */
  blobGc?: BlobGcTiming;
}

export function accountDir(dataDir: string, address: string): string {
  return join(dataDir, 'accounts', address.toLowerCase().replace(/[^a-z0-9@._-]/g, '_'));
}

/** The account's Soledad store: the account has data on this device when it exists. */
export function accountStoreDir(dataDir: string, address: string): string {
  return join(accountDir(dataDir, address), 'store');
}

/** The last provider session, kept 0600 so a restart works while the provider is down. */
function cachedSession(dir: string): ProviderSession | null {
  const file = join(dir, 'session.json');
  if (!existsSync(file)) return null;
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as ProviderSession;
    return Date.parse(s.expiresAt) > Date.now() + 60_000 ? s : null;
  } catch {
    return null;
  }
}

// The exit status of a start only the user can fix (passphrase.ts).
export { EXIT_PASSPHRASE };

/** The one sentence for a device started with a passphrase that was changed elsewhere. */
export function passphraseChangedElsewhere(address: string): string {
  return `the passphrase of ${address} was changed on another device (the provider refuses this one and ended this device's session); start with the new passphrase`;
}

/** Whether `passphrase` unwraps this device's store (no remote: nothing is fetched or adopted). */
async function opensLocally(storeDir: string, passphrase: string): Promise<boolean> {
  if (!existsSync(storeDir)) return false;
  try {
    await (await Soledad.open({ dataDir: storeDir, passphrase })).close();
    return true;
  } catch {
    return false;
  }
}

async function providerSession(opts: OpenAccountOptions, dir: string): Promise<ProviderSession> {
  const { config } = opts;
  const log = logger('daemon', { account: config.address });
  const client = new ProviderClient(config.providerUrl);
  const password = await providerPassword(config.address, opts.passphrase, opts.loginCost);
  if (opts.create === 'new') await client.register(config.address, password);
  try {
    const session = await client.login(config.address, password);
    writePrivateFile(join(dir, 'session.json'), JSON.stringify(session));
    return session;
  } catch (err) {
    // The login password is derived from the passphrase: a refusal means the
    // provider's login is not this passphrase's (mistyped, or changed elsewhere).
    const refused = err instanceof ProviderRefusedError && err.status === 401;
    const cached = opts.create ? null : cachedSession(dir);
    if (cached) {
      // The cached session stands in while the provider is unreachable, and
      // after a crash in the middle of a passphrase change here (the provider
      // switched the login, this session survived: passphrase-change.ts). A
      // refused login with a session the provider refuses too gets 401 from
      // sync forever: stop here instead.
      const accepted = refused ? await client.sessionAccepted(cached) : null;
      if (accepted !== false) {
        // Refused: this passphrase is wrong (opening the store next says so), or a passphrase change here was cut short.
        log.warn({ err: (err as Error).message }, refused ? 'the provider refused the login; going on with the cached session if the local store takes this passphrase' : 'provider login failed; using the cached session');
        return cached;
      }
      log.warn('the provider refused the login and the cached session');
      rmSync(join(dir, 'session.json'), { force: true });
    }
    if (refused) {
      // This device's store still opens with it: it was right here, so it was changed on another device.
      if (!opts.create && (await opensLocally(accountStoreDir(opts.dataDir, config.address), opts.passphrase))) throw new UserError(passphraseChangedElsewhere(config.address), EXIT_PASSPHRASE);
      throw new UserError(`wrong passphrase for ${config.address} (or no such account at ${config.providerUrl})`, EXIT_PASSPHRASE);
    }
    throw err;
  }
}

/**
 * A running daemon whose session the provider ends (a passphrase change or
 * `sealmail account logout` on another device) gets 401 from sync on every
 * retry. It does not log in again by itself, since that would undo a logout
 * meant to shut out a lost device: it keeps serving what it holds, logs once,
 * and `sealmail status` shows the problem until a restart (with the new
 * passphrase if it was changed) logs in afresh.
 */
function watchSessionEnd(soledad: Soledad, address: string): { readonly problem: string | null } {
  const state = { problem: null as string | null };
  const onSync = (s: SyncStatus): void => {
    if (!s.lastError || !/^401\b/.test(s.lastError)) return;
    state.problem = `the provider ended this device's session (the passphrase was changed, or \`sealmail account logout\` was run, on another device); restart the daemon, with the new passphrase if it was changed`;
    logger('daemon', { account: address }).error('the provider refuses this device\'s session: sync stopped until the daemon is restarted (with the new passphrase if it was changed)');
    soledad.off('sync', onSync);
  };
  soledad.on('sync', onSync);
  return state;
}

/** Maps what the keymanager found inside a message onto our status headers. */
function statusOf(opened: Awaited<ReturnType<KeyManager['openMessage']>>): MessageStatus {
  const s = opened.signature;
  const signature =
    s.status === 'valid' ? `valid; fpr=${s.fingerprint ?? ''}` : s.status === 'unknown-key' && s.keyId ? `unknown-key; keyid=${s.keyId}` : s.status;
  return { encryption: opened.encryption, signature };
}

export async function openAccount(opts: OpenAccountOptions): Promise<AccountRuntime> {
  const { config } = opts;
  const fresh = !existsSync(accountDir(opts.dataDir, config.address));
  const dir = ensurePrivateDir(accountDir(opts.dataDir, config.address));
  let session: ProviderSession;
  try {
    session = await providerSession(opts, dir);
  } catch (err) {
    // Nothing of the account is here yet (a provider unreachable at `account
    // create`): leave no empty directory behind, which a later quickstart
    // would take for another account's data.
    if (fresh) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const remote = { url: session.couchUrl, headers: { Authorization: `Bearer ${session.token}` } };
  const storeDir = accountStoreDir(opts.dataDir, config.address);
  let soledad: Soledad;
  try {
    if (opts.create === 'new') soledad = await Soledad.create({ dataDir: storeDir, passphrase: opts.passphrase, remote, kdf: opts.kdf });
    else if (opts.create === 'restore') {
      const restoring = new PullProgressTracker(remote, opts.onRestoreProgress);
      // From scratch, everything in the provider's changes feed is to be pulled.
      restoring.begin(opts.onRestoreProgress ? await remainingChanges(remote, 0) : null);
      soledad = await Soledad.restore({ dataDir: storeDir, passphrase: opts.passphrase, remote, onPull: (c) => restoring.change(c) });
      restoring.end();
    }
    else soledad = await Soledad.open({ dataDir: storeDir, passphrase: opts.passphrase, remote });
  } catch (err) {
    if (err instanceof WrongPassphraseError) throw new UserError(`wrong passphrase for ${config.address}`, EXIT_PASSPHRASE);
    throw err;
  }
  try {
    const pullProgress = trackPulls(soledad, remote);
    const sessionEnd = watchSessionEnd(soledad, config.address);
    soledad.registerMerge('entry', MAIL_MERGE_RULES.entry);
    soledad.registerMerge('mailbox', MAIL_MERGE_RULES.mailbox);
    for (const [type, rule] of Object.entries(BLOB_GC_MERGE_RULES)) soledad.registerMerge(type, rule as never);
    const keys = new KeyManager({
      store: soledad,
      address: config.address,
      provider: { url: config.providerUrl, token: session.token },
      ...(config.keyserver ? { hkp: { url: config.keyserver } } : {}),
      ...(opts.keyType ? { algorithm: opts.keyType } : {}),
    });
    await keys.ensureOwnKey();
    const mail = await openMailStore({ docs: soledad, local: soledad.local, releaseMappedFiles: (tries) => soledad.releaseMappedFiles(tries) });
    const blobGc = new BlobGc({
      docs: soledad,
      entries: indexEntriesOf(mail),
      device: await mailDeviceId(soledad.local),
      storage: { bytes: () => soledad.storageBytes(), compact: () => soledad.compactStorage() },
      ...opts.blobGc,
    });
    blobGc.start(opts.blobGc);
    const fetch = new FetchLoop({
      incoming: (o) => soledad.incoming(o),
      removeIncoming: (id) => soledad.removeIncoming(id),
      markIncoming: (id, note) => soledad.markIncoming(id, note),
      decrypt: async (ciphertext) => decryptIncoming(ciphertext, await keys.decryptionKeys()),
      open: async (raw) => {
        const opened = await keys.openMessage(raw);
        await importAttachedKeys(opened.raw, keys.keyring, config.address);
        return { raw: opened.raw, status: statusOf(opened) };
      },
      deliver: async (mailbox, raw, o) => {
        await mail.deliver(mailbox, raw, o);
      },
      deliverMany: async (mailbox, items) => (await mail.deliverMany(mailbox, items)).map((o) => (o instanceof Error ? o : null)),
      removeIncomingMany: (ids) => soledad.removeIncomingMany(ids),
      retract: async (mailbox, deliveryId) => {
        await mail.retractDelivery(mailbox, deliveryId);
      },
      statusMemo: new StatusMemoStore(soledad.local, (ids) => soledad.existingIncoming(ids)),
      // Our key doc changes when a key is imported or renewed, here or on another device (by sync).
      keyChanges: async function* (signal) {
        for await (const change of soledad.changes({ since: 'now', live: true, signal })) {
          if (change.type !== OWN_KEY_DOC) continue;
          keys.forgetOwnKey(); // else the retry could still decrypt with the cached, older key
          yield change.id;
        }
      },
    });
    return {
      config,
      soledad,
      keys,
      mail,
      fetch,
      blobGc,
      session,
      pullProgress,
      get problem() {
        return sessionEnd.problem;
      },
      importProgress: null,
      async close() {
        await fetch.stop();
        await blobGc.stop();
        await mail.close();
        await soledad.close();
      },
    };
  } catch (err) {
    await soledad.close().catch(() => undefined);
    throw err;
  }
}
