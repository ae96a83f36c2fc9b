// A DocumentStore over one PouchDB database whose every document is sealed
// with doc-crypto: what PouchDB (and so LevelDB and the server) holds is
// ciphertext under HMAC ids. Used for the replicated store and, with its own
// namespace, for the device-local one.
import type { Readable } from 'node:stream';
import type { BlobOptions, ChangesOptions, DeleteBlobOptions, ReadBlobOptions, Doc, DocChange, DocumentStore } from './types.js';
import { docIdFor, isSealed, openDoc, openDocOf, sealDoc, type OpenedDoc } from './doc-crypto.js';
import type { DerivedKeys } from './secrets.js';
import { isConflict, isNotFound, type Pouch } from './pouch.js';
import { TypeIndex } from './type-index.js';
import { BLOB_TYPE, BlobStore } from './blob-store.js';
import { Feed } from './feed.js';
import { ChangeHub, type HubChange } from './change-hub.js';
import { DocumentIntegrityError, SoledadError } from './errors.js';
import { logger } from '../util/log.js';

const log = logger('soledad');
const BATCH = 200;
const REV_CACHE = 10_000;

type Stored = Record<string, unknown> & { _id: string; _rev?: string; _deleted?: boolean };
/** What decrypting a live change gave, shared by the readers of one store. */
type SharedOpen = { store: EncryptedStore; opened: OpenedDoc | null; handedOut: boolean };

export class EncryptedStore implements DocumentStore {
  private readonly index: TypeIndex;
  private readonly blobs: BlobStore;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly revs = new Map<string, string>();
  private readonly feeds = new Set<Feed<unknown>>();
  private readonly hub: ChangeHub;
  private closed = false;

  constructor(
    readonly db: Pouch,
    private readonly keys: DerivedKeys,
    /** Bound into every ciphertext: a local-only doc cannot be passed off as a replicated one. */
    readonly ns: string,
    /** Device-local database holding the type index (see type-index.ts). */
    indexDb: Pouch,
  ) {
    this.index = new TypeIndex(db, indexDb, ns, keys.idKey, (docId, doc) => this.tryOpen(docId, doc)?.type ?? null);
    this.blobs = new BlobStore(this, db, keys, ns);
    this.hub = ChangeHub.of(db);
  }

  docId(type: string, id: string): string {
    return docIdFor(this.keys, type, id);
  }

  /** Decrypts a stored document (throws DocumentIntegrityError). */
  open(docId: string, doc: unknown): OpenedDoc {
    if (!isSealed(doc)) throw new DocumentIntegrityError(docId, 'not a sealed document');
    return openDoc(this.keys, this.ns, docId, doc);
  }

  seal(docId: string, doc: OpenedDoc): Record<string, unknown> {
    return { ...sealDoc(this.keys, this.ns, docId, doc) };
  }

  private tryOpen(docId: string, doc: unknown, types: readonly string[] | null = null): OpenedDoc | null {
    try {
      if (!isSealed(doc)) throw new DocumentIntegrityError(docId, 'not a sealed document');
      return openDocOf(this.keys, this.ns, docId, doc, types);
    } catch (err) {
      log.warn({ docId, err: (err as Error).message }, 'skipping a document that fails its integrity check');
      return null;
    }
  }

  /** Serialises read-modify-write cycles on one stored id within this process. */
  private withLock<R>(docId: string, fn: () => Promise<R>): Promise<R> {
    const prev = this.locks.get(docId) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.locks.set(docId, next);
    void next.finally(() => {
      if (this.locks.get(docId) === next) this.locks.delete(docId);
    }).catch(() => undefined);
    return next;
  }

  private async currentRev(docId: string): Promise<string | undefined> {
    try {
      return (await this.db.get(docId))._rev;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new SoledadError('the document store is closed', 'CLOSED');
  }

  async put<T>(type: string, id: string, content: T): Promise<void> {
    this.assertOpen();
    const docId = this.docId(type, id);
    await this.withLock(docId, async () => {
      // Optimistic: use the rev we last wrote or saw (none for a new doc); on a
      // conflict (replication moved it on, or it exists) read the current rev.
      let rev = this.revs.get(docId);
      for (let attempt = 0; ; attempt++) {
        const doc: Stored = { _id: docId, ...this.seal(docId, { type, id, content }) };
        if (rev) doc._rev = rev;
        try {
          this.rememberRev(docId, (await this.db.put(doc)).rev);
          break;
        } catch (err) {
          if (!isConflict(err) || attempt >= 5) throw err;
          rev = await this.currentRev(docId);
        }
      }
    });
    this.index.note(docId, type);
  }

  /** Bounded map of the last rev this process wrote per stored id (a hint; PouchDB checks it). */
  private rememberRev(docId: string, rev: string): void {
    this.revs.delete(docId);
    this.revs.set(docId, rev);
    if (this.revs.size > REV_CACHE) this.revs.delete(this.revs.keys().next().value!);
  }

  async get<T>(type: string, id: string): Promise<T | null> {
    this.assertOpen();
    const docId = this.docId(type, id);
    let stored: unknown;
    try {
      stored = await this.db.get(docId);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    return this.open(docId, stored).content as T | null;
  }

  /** Deletion keeps a sealed body (content null) so the changes feed can still say what was deleted. */
  async delete(type: string, id: string): Promise<void> {
    this.assertOpen();
    const docId = this.docId(type, id);
    await this.withLock(docId, async () => {
      for (let attempt = 0; ; attempt++) {
        const rev = await this.currentRev(docId);
        if (!rev) return;
        try {
          const res = await this.db.put({ _id: docId, _rev: rev, _deleted: true, ...this.seal(docId, { type, id, content: null }) });
          this.rememberRev(docId, res.rev);
          return;
        } catch (err) {
          if (!isConflict(err) || attempt >= 5) throw err;
        }
      }
    });
  }

  async bulkPut(docs: Array<Doc>): Promise<void> {
    this.assertOpen();
    for (let i = 0; i < docs.length; i += BATCH) await this.bulkBatch(docs.slice(i, i + BATCH));
  }

  private async bulkBatch(docs: Array<Doc>): Promise<void> {
    // Within one batch the last write of an id wins, as with sequential puts.
    const last = new Map<string, Doc>();
    for (const d of docs) last.set(this.docId(d.type, d.id), d);
    const build = (docId: string, rev: string | undefined): Stored => {
      const d = last.get(docId)!;
      const doc: Stored = { _id: docId, ...this.seal(docId, { type: d.type, id: d.id, content: d.content }) };
      if (rev) doc._rev = rev;
      return doc;
    };
    // First pass with the revs we know (none for new docs: the common case for
    // bulk writes); the ones that conflict get their current rev and a second pass.
    let pending = [...last.keys()].map((docId) => build(docId, this.revs.get(docId)));
    for (let pass = 0; pending.length > 0; pass++) {
      const results = await this.db.bulkDocs(pending);
      const conflicted: string[] = [];
      results.forEach((r, i) => {
        const docId = pending[i]!._id;
        if ('error' in r && r.error) {
          if (r.status !== 409) throw new SoledadError(`bulk write failed for ${docId}: ${r.message ?? r.name}`, 'WRITE_FAILED');
          conflicted.push(docId);
        } else {
          this.rememberRev(docId, (r as PouchDB.Core.Response).rev);
          this.index.note(docId, last.get(docId)!.type);
        }
      });
      if (conflicted.length === 0) break;
      if (pass >= 1) {
        // Still racing with replication: the one-document path retries per doc.
        for (const docId of conflicted) {
          const d = last.get(docId)!;
          await this.put(d.type, d.id, d.content);
        }
        break;
      }
      const existing = await this.db.allDocs({ keys: conflicted });
      pending = existing.rows.map((row) => {
        const live = 'value' in row && row.value && !(row.value as { deleted?: boolean }).deleted;
        return build(row.key, live ? (row as { value: { rev: string } }).value.rev : undefined);
      });
    }
  }

  async *query<T>(type: string): AsyncIterable<Doc<T>> {
    this.assertOpen();
    const ids = (await this.index.idsOf(type)).sort();
    for (let i = 0; i < ids.length; i += BATCH) {
      const res = await this.db.allDocs({ keys: ids.slice(i, i + BATCH), include_docs: true });
      for (const row of res.rows) {
        if (!('doc' in row) || !row.doc) continue;
        const opened = this.open(row.id, row.doc);
        if (opened.type === type && opened.content !== null) yield { type, id: opened.id, content: opened.content as T };
      }
    }
  }

  async *changes<T = unknown>(opts: ChangesOptions = {}): AsyncIterable<DocChange<T>> {
    this.assertOpen();
    // Local PouchDB seqs are integers; CouchDB's are opaque strings (keep those as they are).
    const given = opts.since === 'now' ? (await this.db.info()).update_seq : (opts.since ?? 0);
    let since: string | number = typeof given === 'string' && /^\d+$/.test(given) ? Number(given) : given;
    // The abort is checked after every change handed out: the consumer may
    // abort while it holds one, and an abort that fell during catch-up must
    // end the iterator there, not wait on the live feed for the next write.
    const stopped = (): boolean => opts.signal?.aborted === true || this.closed;
    const types = opts.types ?? null;
    // Live: join the database's change hub BEFORE catching up, so a write
    // committed between the catch-up's last page and going live is not lost
    // (the hub's feed starts at or before the subscription; see change-hub.ts).
    let feed: Feed<HubChange> | null = null;
    let unsubscribe: (() => void) | null = null;
    const onAbort = (): void => feed?.end();
    if (opts.live) {
      const f = new Feed<HubChange>();
      feed = f;
      this.feeds.add(f as Feed<unknown>);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      unsubscribe = await this.hub.subscribe({ change: (c) => f.push(c), end: (err) => f.end(err), whenBelow: (n) => f.whenBelow(n) });
    }
    try {
      // Catch up in pages (each change decrypted by this reader only).
      for (;;) {
        if (stopped()) return;
        const res = await this.db.changes({ since, limit: BATCH, include_docs: true });
        for (const r of res.results) {
          if (stopped()) return;
          const change = this.toChange<T>(r, types);
          if (change) yield change;
        }
        since = res.last_seq;
        if (res.results.length < BATCH) break;
      }
      if (!feed || stopped()) return;
      // The hub may repeat what the catch-up already handed out.
      const caughtUp = Number(since);
      for await (const r of feed) {
        if (stopped()) return;
        if (Number(r.seq) <= caughtUp) continue;
        const change = this.sharedChange<T>(r, types);
        if (change) yield change;
      }
    } finally {
      unsubscribe?.();
      // Ended, so a hub waiting for this reader to make room (change-hub.ts) does not wait for good.
      feed?.end();
      opts.signal?.removeEventListener('abort', onAbort);
      if (feed) this.feeds.delete(feed as Feed<unknown>);
    }
  }

  private toChange<T>(r: { id: string; seq: number | string; deleted?: boolean; doc?: unknown }, types: readonly string[] | null): DocChange<T> | null {
    if (!isSealed(r.doc)) return null; // incoming docs, blob chunks, the wrapped secret, loser deletions
    const opened = this.tryOpen(r.id, r.doc, types);
    if (!opened || opened.type.startsWith('\u0000')) return null; // internal types (blob metadata)
    return { seq: String(r.seq), type: opened.type, id: opened.id, content: r.deleted ? null : (opened.content as T | null) };
  }

  /**
   * A live change, decrypted once for all of this store's readers (the
   * memo rides on the hub's change object). Each reader gets its own copy of
   * the content, as if it had decrypted the document itself.
   */
  private sharedChange<T>(r: HubChange, types: readonly string[] | null): DocChange<T> | null {
    if (!isSealed(r.doc)) return null;
    let memo = r.memo as SharedOpen | undefined;
    if (memo === undefined || memo.store !== this) {
      memo = { store: this, opened: this.tryOpen(r.id, r.doc), handedOut: false };
      r.memo = memo;
    }
    const opened = memo.opened;
    if (!opened || opened.type.startsWith('\u0000')) return null;
    if (types && !types.includes(opened.type)) return null;
    let content = r.deleted ? null : (opened.content as T | null);
    if (content !== null && typeof content === 'object') {
      if (memo.handedOut) content = structuredClone(content);
      memo.handedOut = true;
    }
    return { seq: String(r.seq), type: opened.type, id: opened.id, content };
  }

  putBlob(id: string, source: AsyncIterable<Buffer> | Buffer, opts?: BlobOptions): Promise<{ size: number }> {
    this.assertOpen();
    return this.blobs.put(id, source, opts);
  }

  blobMeta<T>(id: string): Promise<T | null> {
    return this.blobs.meta<T>(id);
  }

  /** A sealed document written past put() (a blob's head, which carries an attachment): the type index learns its type without decrypting it. */
  noteWrite(docId: string, type: string): void {
    this.index.note(docId, type);
  }

  hasBlob(id: string): Promise<boolean> {
    return this.blobs.has(id);
  }

  blobSize(id: string): Promise<number | null> {
    return this.blobs.size(id);
  }

  readBlob(id: string, start?: number, end?: number, opts?: ReadBlobOptions): Readable {
    return this.blobs.read(id, start, end, opts?.missing);
  }

  blobVersion(id: string): Promise<string | null> {
    return this.blobs.version(id);
  }

  /** Every blob's id (a decrypt of each blob's head document: not for hot paths). */
  async *blobIds(): AsyncIterable<string> {
    for await (const head of this.query(BLOB_TYPE)) yield head.id;
  }

  deleteBlob(id: string, opts?: DeleteBlobOptions): Promise<void> {
    this.assertOpen();
    return this.blobs.delete(id, opts);
  }

  /** Ends live feeds and waits for writes in flight; the caller closes the database. */
  async close(): Promise<void> {
    this.closed = true;
    for (const f of this.feeds) f.end();
    await Promise.allSettled([...this.locks.values()]);
    await this.index.flush().catch((err) => log.warn({ err: (err as Error).message }, 'type index not saved; it is rebuilt on next use'));
  }
}
