// Soledad: the client-side encrypted, synced document store (DESIGN.md
// "Soledad"). One account = one data dir holding two LevelDB PouchDBs:
//   main/   replicated with the provider; every doc sealed (doc-crypto), plus
//           the wrapped storage secret (fixed id) and the MX's incoming docs;
//   local/  device-only state (UIDs, queue state, fetch notes), sealed too.
import { EventEmitter } from 'node:events';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobOptions, ChangesOptions, DeleteBlobOptions, ReadBlobOptions, Doc, DocChange, DocumentStore, IncomingDoc } from './types.js';
import { DEFAULT_KDF, deriveKeys, generateSecret, isWrappedSecret, unwrapSecret, wrapSecret, type KdfParams, type WrappedSecret } from './secrets.js';
import { EncryptedStore } from './encrypted-store.js';
import { ConflictResolver, type MergeFn, type MergeRule } from './conflicts.js';
import { SyncController, type SyncOptions, type SyncStatus } from './sync.js';
import { IncomingQueue } from './incoming.js';
import { isNotFound, openLocal, openRemote, type Pouch, type RemoteSpec } from './pouch.js';
import { compactDatabase, databaseBytes, releaseMappedTables } from './reopenable-leveldown.js';
import { SoledadError } from './errors.js';
import { logger } from '../util/log.js';

import { WrongPassphraseError } from './errors.js';
export { WrongPassphraseError, DocumentIntegrityError, SoledadError } from './errors.js';
export { HybridLogicalClock, compareHlc, encodeHlc, parseHlc } from './hlc.js';
export type { KdfParams, WrappedSecret } from './secrets.js';
export type { SyncStatus, SyncState, SyncOptions } from './sync.js';
export type { MergeFn, MergeRule } from './conflicts.js';
export type { RemoteSpec } from './pouch.js';
export type { BlobOptions, ChangesOptions, DeleteBlobOptions, Doc, DocChange, DocumentStore, IncomingDoc } from './types.js';

const log = logger('soledad');

/** Fixed id of the wrapped storage secret in the replicated database (so a new device finds it). */
export const SECRET_DOC_ID = 'soledad-secret';
const MAIN_DB = 'main';
/** The replicated database holds the mail's ciphertext: a larger memtable (see LocalDbOptions). */
const MAIN_DB_OPTIONS = { writeBufferBytes: 16 << 20 };
const LOCAL_DB = 'local';
const INDEX_DB = 'index';

export interface SoledadOpenOptions {
  dataDir: string;
  passphrase: string;
  remote?: RemoteSpec;
  /** Continuous sync when a remote is given. Default true. */
  liveSync?: boolean;
  sync?: SyncOptions;
}

export interface SoledadCreateOptions extends SoledadOpenOptions {
  /** scrypt parameters for wrapping the secret; default N=2^17, r=8 (128 MiB). */
  kdf?: KdfParams;
}

export interface SoledadRestoreOptions extends SoledadOpenOptions {
  remote: RemoteSpec;
  /** Each replicated batch of the initial pull (PouchDB's change info: docs_read, last_seq, ...), for progress. */
  onPull?: (change: { docs_read: number; docs_written: number; last_seq?: number | string; pending?: number }) => void;
}

type SecretDoc = WrappedSecret & { _id: string; _rev?: string; sealmail: 'secret' };

export class Soledad extends EventEmitter implements DocumentStore {
  /** Device-local documents: same encryption, never replicated. */
  readonly local: EncryptedStore;
  private readonly store: EncryptedStore;
  private readonly resolver: ConflictResolver;
  private readonly inbox: IncomingQueue;
  private readonly sync: SyncController | null;
  private readonly remoteDb: Pouch | null;
  private readonly indexDb: Pouch;
  /** Where the replicated database's LevelDB lives (for compactStorage). */
  private readonly mainLocation: string;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly mainDb: Pouch,
    private readonly localDb: Pouch,
    private secret: Buffer,
    opts: SoledadOpenOptions,
  ) {
    super();
    const keys = deriveKeys(secret);
    this.mainLocation = join(opts.dataDir, MAIN_DB);
    this.indexDb = openLocal(opts.dataDir, INDEX_DB);
    this.store = new EncryptedStore(mainDb, keys, 'main', this.indexDb);
    this.local = new EncryptedStore(localDb, keys, 'local', this.indexDb);
    this.resolver = new ConflictResolver(mainDb, this.store);
    this.inbox = new IncomingQueue(mainDb, this.local);
    this.remoteDb = opts.remote ? openRemote(opts.remote) : null;
    this.sync = this.remoteDb ? new SyncController(mainDb, this.remoteDb, opts.sync) : null;
    this.sync?.on('status', (s: SyncStatus) => this.emit('sync', s));
    this.sync?.on('change', (info: unknown) => this.emit('sync-change', info));
    this.resolver.start();
    if (this.sync && opts.liveSync !== false) this.sync.start();
  }

  /** New account: generates the storage secret and stores it wrapped with the passphrase. */
  static async create(opts: SoledadCreateOptions): Promise<Soledad> {
    if (opts.remote) {
      // A second secret pushed into a database that has one would make two
      // accounts' ciphertexts collide: a device joining an account restores.
      const remote = openRemote(opts.remote);
      try {
        if (await readSecretDoc(remote)) {
          throw new SoledadError('the remote database already holds an account: restore it on this device instead of creating a new one', 'EXISTS_REMOTE');
        }
      } finally {
        await remote.close().catch(() => undefined);
      }
    }
    const mainDb = openLocal(opts.dataDir, MAIN_DB, MAIN_DB_OPTIONS);
    try {
      if (await readSecretDoc(mainDb)) throw new SoledadError(`an account already exists in ${opts.dataDir}`, 'EXISTS');
      const secret = generateSecret();
      const wrapped = await wrapSecret(secret, opts.passphrase, opts.kdf ?? DEFAULT_KDF);
      await mainDb.put({ _id: SECRET_DOC_ID, sealmail: 'secret', ...wrapped } as never);
      log.info({ dataDir: opts.dataDir }, 'account created');
      return new Soledad(mainDb, openLocal(opts.dataDir, LOCAL_DB), secret, opts);
    } catch (err) {
      await mainDb.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Existing account on this device. Wrong passphrase → WrongPassphraseError.
   * When the passphrase was changed on another device, the local wrapping is
   * still the old one: with a remote, a passphrase that unwraps the remote's
   * newer wrapping is accepted and that wrapping replicated here.
   */
  static async open(opts: SoledadOpenOptions): Promise<Soledad> {
    const mainDb = openLocal(opts.dataDir, MAIN_DB, MAIN_DB_OPTIONS);
    try {
      const doc = await readSecretDoc(mainDb);
      if (!doc) throw new SoledadError(`no account in ${opts.dataDir}: create one, or restore from the provider`, 'NO_ACCOUNT');
      let secret: Buffer;
      try {
        secret = await unwrapSecret(doc, opts.passphrase);
      } catch (err) {
        if (!(err instanceof WrongPassphraseError) || !opts.remote) throw err;
        secret = await adoptRemoteWrapping(mainDb, doc, opts.remote, opts.passphrase, err);
      }
      return new Soledad(mainDb, openLocal(opts.dataDir, LOCAL_DB), secret, opts);
    } catch (err) {
      await mainDb.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * New device: fetches the wrapped secret from the remote database, unwraps
   * it (nothing is written locally if the passphrase is wrong), then pulls
   * everything with one replication before returning.
   */
  static async restore(opts: SoledadRestoreOptions): Promise<Soledad> {
    const remote = openRemote(opts.remote);
    let wrapped: SecretDoc | null;
    try {
      wrapped = await readSecretDoc(remote);
    } finally {
      await remote.close().catch(() => undefined);
    }
    if (!wrapped) throw new SoledadError(`the remote database holds no Soledad account (${SECRET_DOC_ID} missing)`, 'NO_ACCOUNT');
    const secret = await unwrapSecret(wrapped, opts.passphrase);
    const mainDb = openLocal(opts.dataDir, MAIN_DB, MAIN_DB_OPTIONS);
    if (await readSecretDoc(mainDb)) {
      await mainDb.close();
      throw new SoledadError(`an account already exists in ${opts.dataDir}`, 'EXISTS');
    }
    const soledad = new Soledad(mainDb, openLocal(opts.dataDir, LOCAL_DB), secret, { ...opts, liveSync: false });
    const onPull = opts.onPull;
    if (onPull) soledad.on('sync-change', (info: { direction: string; change: Parameters<typeof onPull>[0] }) => info.direction === 'pull' && onPull(info.change));
    try {
      // Pull only: everything here came from the remote (live sync pushes later writes).
      await soledad.sync!.syncOnce(() => soledad.resolver.drain(), { push: false });
    } catch (err) {
      await soledad.close();
      throw err;
    }
    if (opts.liveSync !== false) soledad.sync?.start();
    log.info({ dataDir: opts.dataDir }, 'account restored from the provider');
    return soledad;
  }

  /**
   * Re-wraps the storage secret under a new passphrase; documents are not
   * touched. `beforeStore` runs once the current passphrase is checked and the
   * new wrapping computed, right before it is stored (the daemon changes the
   * provider login there: if it fails, nothing changed here). Returns the new
   * wrapped secret, which sync carries to the remote database.
   */
  async changePassphrase(current: string, next: string, kdf: KdfParams = DEFAULT_KDF, beforeStore?: () => Promise<void>): Promise<WrappedSecret> {
    const doc = await readSecretDoc(this.mainDb);
    if (!doc) throw new SoledadError('the wrapped secret is missing', 'NO_ACCOUNT');
    const secret = await unwrapSecret(doc, current); // WrongPassphraseError: nothing changed
    if (!secret.equals(this.secret)) throw new SoledadError('stored secret does not match the open store', 'SECRET_MISMATCH');
    const wrapped = await wrapSecret(secret, next, kdf);
    await beforeStore?.();
    await this.mainDb.put({ _id: SECRET_DOC_ID, _rev: doc._rev, sealmail: 'secret', ...wrapped } as never);
    log.info('passphrase changed');
    return wrapped;
  }

  // --- DocumentStore (replicated) --------------------------------------------

  put<T>(type: string, id: string, content: T): Promise<void> {
    return this.store.put(type, id, content);
  }
  get<T>(type: string, id: string): Promise<T | null> {
    return this.store.get<T>(type, id);
  }
  delete(type: string, id: string): Promise<void> {
    return this.store.delete(type, id);
  }
  bulkPut(docs: Array<Doc>): Promise<void> {
    return this.store.bulkPut(docs);
  }
  query<T>(type: string): AsyncIterable<Doc<T>> {
    return this.store.query<T>(type);
  }
  changes<T = unknown>(opts?: ChangesOptions): AsyncIterable<DocChange<T>> {
    return this.store.changes<T>(opts);
  }
  putBlob(id: string, source: AsyncIterable<Buffer> | Buffer, opts?: BlobOptions): Promise<{ size: number }> {
    return this.store.putBlob(id, source, opts);
  }
  blobMeta<T>(id: string): Promise<T | null> {
    return this.store.blobMeta<T>(id);
  }
  hasBlob(id: string): Promise<boolean> {
    return this.store.hasBlob(id);
  }
  blobSize(id: string): Promise<number | null> {
    return this.store.blobSize(id);
  }
  readBlob(id: string, start?: number, end?: number, opts?: ReadBlobOptions): Readable {
    return this.store.readBlob(id, start, end, opts);
  }
  blobVersion(id: string): Promise<string | null> {
    return this.store.blobVersion(id);
  }
  blobIds(): AsyncIterable<string> {
    return this.store.blobIds();
  }
  deleteBlob(id: string, opts?: DeleteBlobOptions): Promise<void> {
    return this.store.deleteBlob(id, opts);
  }

  /** LevelDB's estimate of the bytes the replicated database takes on disk. */
  storageBytes(): Promise<number> {
    return databaseBytes(this.mainLocation);
  }

  /** Gives the disk space of deleted documents back now (a LevelDB compaction of the replicated database). */
  compactStorage(): Promise<void> {
    return compactDatabase(this.mainLocation);
  }

  /**
   * Reopens the local databases, each once it is idle, so the table files
   * LevelDB mapped while reading them leave the process's RSS (see
   * reopenable-leveldown.ts release): after a read of the whole store, such
   * as building the mail index from it (~100 MB at 100k messages), which
   * would otherwise stay resident until the daemon stops. Operations on a
   * database wait while it waits to be idle, so each try waits at most
   * 250 ms, and a busy one is tried again every second, up to `tries` times.
   * True when all were reopened.
   */
  async releaseMappedFiles(tries = 10): Promise<boolean> {
    const dir = dirname(this.mainLocation);
    const release = async (location: string): Promise<boolean> => {
      for (let attempt = 0; attempt < tries && !this.closing; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, 1000).unref());
        if (await releaseMappedTables(location, 250)) return true;
      }
      return false;
    };
    const done = await Promise.all([MAIN_DB, LOCAL_DB, INDEX_DB].map((name) => release(join(dir, name))));
    return done.every(Boolean);
  }

  // --- incoming --------------------------------------------------------------

  incoming(opts?: { live?: boolean; signal?: AbortSignal }): AsyncIterable<IncomingDoc> {
    return this.inbox.list(opts);
  }
  removeIncoming(id: string): Promise<void> {
    return this.inbox.remove(id);
  }
  /** Deletes several incoming docs in one write (see IncomingQueue.removeMany). */
  removeIncomingMany(ids: readonly string[]): Promise<void> {
    return this.inbox.removeMany(ids);
  }
  /** Which of these incoming docs are still there. */
  existingIncoming(ids: readonly string[]): Promise<Set<string>> {
    return this.inbox.existing(ids);
  }

  markIncoming(id: string, note: { error: string; attempts: number }): Promise<void> {
    return this.inbox.mark(id, note);
  }

  // --- conflicts and sync ----------------------------------------------------

  /**
   * Merge for concurrent edits of a document type (see conflicts.ts); must be
   * deterministic and order-independent. Takes a function, or a rule object
   * `{ merge, isTombstone? }` (the shape of src/mail's MAIL_MERGE_RULES).
   */
  registerMerge<T>(type: string, merge: MergeFn<T> | MergeRule<T>, opts: Omit<MergeRule<T>, 'merge'> = {}): void {
    const rule: MergeRule<T> = typeof merge === 'function' ? { merge, ...opts } : { ...merge, ...opts };
    this.resolver.register(type, rule);
    void this.resolver.drain().catch(() => undefined);
  }

  /** Resolves any pending conflicts now (they are also resolved continuously in the background). */
  resolveConflicts(): Promise<void> {
    return this.resolver.drain();
  }

  syncStatus(): SyncStatus {
    return this.sync?.status() ?? { state: 'idle', connected: false, pending: 0, lastSync: null, lastError: 'no remote configured' };
  }

  /** One pull, conflict resolution, one push; resolves when done (throws if the remote is unreachable). */
  async syncOnce(): Promise<{ pulled: number; pushed: number }> {
    if (!this.sync) throw new SoledadError('no remote configured', 'NO_REMOTE');
    return this.sync.syncOnce(() => this.resolver.drain());
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      await this.sync?.stop();
      await this.resolver.stop();
      this.inbox.close();
      await this.store.close();
      await this.local.close();
      await this.remoteDb?.close().catch(() => undefined);
      await this.mainDb.close();
      await this.localDb.close();
      await this.indexDb.close();
      this.secret.fill(0);
    })();
    return this.closing;
  }
}

async function readSecretDoc(db: Pouch): Promise<SecretDoc | null> {
  try {
    const doc = (await db.get(SECRET_DOC_ID)) as unknown as SecretDoc;
    if (!isWrappedSecret(doc)) throw new SoledadError(`${SECRET_DOC_ID} is not a wrapped secret this version understands`, 'BAD_SECRET_FORMAT');
    return doc;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/**
 * The passphrase does not unwrap the local copy of the secret: if it unwraps
 * the remote's (changed on another device; only a holder of the passphrase
 * can make a wrapping that authenticates under it), pull that revision here
 * through replication, so both copies share one revision history. Anything
 * else rethrows `wrong`.
 */
async function adoptRemoteWrapping(mainDb: Pouch, local: SecretDoc, spec: RemoteSpec, passphrase: string, wrong: WrongPassphraseError): Promise<Buffer> {
  const remote = openRemote(spec);
  try {
    let remoteDoc: SecretDoc | null;
    try {
      remoteDoc = await readSecretDoc(remote);
    } catch {
      throw wrong; // provider unreachable: the local answer stands
    }
    if (!remoteDoc || remoteDoc.data === local.data) throw wrong;
    const secret = await unwrapSecret(remoteDoc, passphrase);
    await mainDb.replicate.from(remote, { doc_ids: [SECRET_DOC_ID] });
    const now = await readSecretDoc(mainDb);
    if (now?.data !== remoteDoc.data) throw new SoledadError('could not take over the wrapped secret changed on another device', 'SECRET_MISMATCH');
    log.info('the passphrase was changed on another device: its wrapping of the secret is now used here');
    return secret;
  } finally {
    await remote.close().catch(() => undefined);
  }
}
