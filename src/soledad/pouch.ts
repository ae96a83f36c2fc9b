// The only place Soledad constructs PouchDB databases: local ones on LevelDB
// under the data dir, remote ones over the CouchDB HTTP protocol with the
// caller's headers (the provider gateway wants `Authorization: Bearer …`).
import path from 'node:path';
import fs from 'node:fs';
import PouchDB from 'pouchdb';
import { reopenableLeveldown } from './reopenable-leveldown.js';
import { ReadCacheDown } from './read-cache-down.js';
import { GetBatchingDown } from './get-batching-down.js';

export type Pouch = PouchDB.Database<Record<string, unknown>>;

export interface RemoteSpec {
  /** Database URL, e.g. https://provider.example/db/alice or http://127.0.0.1:5984/userdb. */
  url: string;
  /** Sent with every request (bearer token, basic auth). */
  headers?: Record<string, string>;
}

/**
 * Every changes() call PouchDB runs adds a 'destroyed' listener to its
 * database until it completes, and each write makes every live feed run one
 * (pouchdb-core Changes.eventFunction). Live feeds of the mail index, the
 * fetch loop, conflict resolution and replication, plus the paged reads of
 * queries and the type index, legitimately exceed Node's default of 10 at
 * once; a real leak (a feed per session never cancelled) still trips this.
 */
const MAX_LISTENERS = 100;

/** LevelDB tuning of one local database. */
export interface LocalDbOptions {
  /**
   * LevelDB's memtable size (leveldown's default 4 MiB). The replicated
   * database takes every message's ciphertext: with 4 MiB its memtable
   * filled every ~40 messages of the fetch loop and each flush started
   * compactions that rewrote the same bytes again; its compaction thread
   * took 1.2–2.2 ms CPU per message ingested. 16 MiB: fetch ingest total
   * CPU ~5.7 -> ~4.8 ms/msg (bench/fetch-ingest, 3 alternated runs each),
   * for up to 16 MiB of memtable held (and replayed from the log at start).
   */
  writeBufferBytes?: number;
}

/**
 * LevelDB for a local database: reopenable after a full disk, the gets of a
 * tick read in one native call (get-batching-down.ts), recent writes cached
 * for reads (read-cache-down.ts).
 */
const cachedLeveldown = Object.assign((location: string) => new ReadCacheDown(new GetBatchingDown(reopenableLeveldown(location))), {
  destroy: reopenableLeveldown.destroy,
});

export function openLocal(dataDir: string, name: string, opts: LocalDbOptions = {}): Pouch {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // auto_compaction drops superseded revision bodies: old ciphertexts of
  // edited documents do not pile up on disk. Random revision ids instead of
  // PouchDB's default md5 of the JSON document: that JSON renders a blob
  // chunk's attachment (128 KiB) as an array of numbers (milliseconds per chunk
  // written), and buys nothing here — a sealed document has a random nonce,
  // so two devices never write identical bodies that a content hash would unify.
  // The LevelDB handle is reopened after a write fails on a full disk once
  // there is space again (reopenable-leveldown.ts): no restart needed.
  // Options PouchDB does not know go through to LevelDB's open (levelup).
  const db = new PouchDB(path.join(dataDir, name), {
    adapter: 'leveldb',
    db: cachedLeveldown,
    auto_compaction: true,
    deterministic_revs: false,
    ...(opts.writeBufferBytes ? { writeBufferSize: opts.writeBufferBytes } : {}),
  } as PouchDB.Configuration.DatabaseConfiguration);
  db.setMaxListeners(MAX_LISTENERS);
  coalesceWrites(db);
  return db;
}

type BulkResult = Array<PouchDB.Core.Response | PouchDB.Core.Error>;
type BulkCallback = (err: unknown, res?: BulkResult) => void;
interface QueuedWrite {
  docs: Array<{ _id?: string }>;
  /** remove() passes `was_delete` (a delete of a deleted doc is then an error). */
  remove: boolean;
  done: BulkCallback;
}

/**
 * Group commit for a local database. Every put/remove/bulkDocs is one
 * PouchDB write (its own LevelDB batch, metadata reads and then, for each
 * live changes feed including replication's, one changes() query), and the
 * writers of a busy store (the fetch loop's messages in flight: blob chunks,
 * blob metadata, structure, entry, incoming delete) each wait for their own.
 * Writes issued while one is in flight are queued and go together as ONE
 * bulkDocs when it completes, each caller getting its own results: no added
 * latency when idle. Only ordinary writes are grouped (no options but
 * `was_delete`, which remove() passes, no `_local` docs, no new_edits=false:
 * replication's writes pass through). A grouped call resolves only once its
 * batch is committed, so a caller's await order (docs written, then the
 * incoming doc deleted) is the commit order. If a grouped batch fails as a
 * whole, each call is retried alone, so one bad request cannot fail another.
 */
function coalesceWrites(db: Pouch): void {
  const original = db.bulkDocs.bind(db) as unknown as (req: { docs: object[] }, opts: object, cb: BulkCallback) => void;
  const queue: QueuedWrite[] = [];
  let busy = false;
  const run = (): void => {
    if (busy || queue.length === 0) return;
    // The longest prefix of the queue with the same options in which no two
    // calls write the same id (a second write of an id goes in the next
    // batch): calls still commit in the order they were made.
    const ids = new Set<string>();
    const remove = queue[0]!.remove;
    let take = 0;
    for (const w of queue) {
      if (w.remove !== remove || w.docs.some((d) => ids.has(d._id!))) break;
      for (const d of w.docs) ids.add(d._id!);
      take++;
    }
    const batch = queue.splice(0, take);
    const opts = (): object => (remove ? { was_delete: true } : {});
    busy = true;
    const finish = (): void => {
      busy = false;
      run();
    };
    if (batch.length === 1) {
      const [w] = batch;
      original({ docs: w!.docs }, opts(), (err, res) => {
        finish();
        w!.done(err, res);
      });
      return;
    }
    original({ docs: batch.flatMap((w) => w.docs) }, opts(), (err, res) => {
      if (err || !res) {
        let left = batch.length;
        for (const w of batch) {
          original({ docs: w.docs }, opts(), (e, r) => {
            w.done(e, r);
            if (--left === 0) finish();
          });
        }
        return;
      }
      finish();
      let at = 0;
      for (const w of batch) {
        w.done(null, res.slice(at, at + w.docs.length));
        at += w.docs.length;
      }
    });
  };
  const grouped = function (this: unknown, req: unknown, opts?: unknown, cb?: unknown): unknown {
    if (typeof opts === 'function') {
      cb = opts;
      opts = {};
    }
    const o = (opts ?? {}) as Record<string, unknown>;
    const body = Array.isArray(req) ? { docs: req as Array<{ _id?: string }> } : (req as { docs?: Array<{ _id?: string }>; new_edits?: boolean } | undefined);
    const keys = Object.keys(o);
    const plain =
      body && Array.isArray(body.docs) && body.docs.length > 0 && !('new_edits' in body) &&
      keys.every((k) => k === 'was_delete') &&
      body.docs.every((d) => d && typeof d === 'object' && typeof d._id === 'string' && !d._id.startsWith('_local/'));
    // Before the database is ready PouchDB queues the call and replays it
    // (db.bulkDocs again, with its own callback) once it is: pass it through,
    // the replay is grouped.
    const ready = (db as unknown as { taskqueue?: { isReady?: boolean } }).taskqueue?.isReady !== false;
    if (!plain || !ready) {
      // PouchDB's promise/callback wrapper looks at the last argument: pass exactly what was given.
      const args: unknown[] = [req, opts];
      if (typeof cb === 'function') args.push(cb);
      return (original as unknown as (...a: unknown[]) => unknown)(...args);
    }
    const promise = new Promise<BulkResult>((resolve, reject) => {
      queue.push({ docs: body!.docs!, remove: keys.includes('was_delete'), done: (err, res) => (err ? reject(err) : resolve(res!)) });
      run();
    });
    // With a callback the promise is returned too: PouchDB's replay of a
    // call made before the database was ready resolves to what the replay
    // returns (before, the first bulkDocs on a new handle resolved to
    // undefined). The handler passed to then() keeps a rejection from being
    // reported as unhandled.
    if (typeof cb === 'function') promise.then((res) => (cb as BulkCallback)(null, res), (err: unknown) => (cb as BulkCallback)(err));
    return promise;
  };
  (db as unknown as { bulkDocs: unknown }).bulkDocs = grouped;
}

export function openRemote(remote: RemoteSpec): Pouch {
  const headers = remote.headers ?? {};
  const opts = {
    skip_setup: true,
    fetch(url: string, init: { headers: Headers }) {
      for (const [k, v] of Object.entries(headers)) init.headers.set(k, v);
      return PouchDB.fetch(url, init as unknown as RequestInit);
    },
  };
  const db = new PouchDB(remote.url, opts as unknown as PouchDB.Configuration.RemoteDatabaseConfiguration);
  db.setMaxListeners(MAX_LISTENERS);
  // PouchDB's replicator asks the source for info() after each batch, for
  // progress only, and drops that promise chain (pouchdb 9 replicate.js
  // finishBatch: src.info().then(...), no catch): a provider that dies at
  // that moment was an unhandled rejection, and Node ends the daemon. A
  // chain built on the remote's info() now carries a handler; whoever
  // awaits it still gets the error.
  const info = db.info.bind(db) as (...args: unknown[]) => unknown;
  (db as unknown as { info: unknown }).info = (...args: unknown[]): unknown => {
    if (typeof args[args.length - 1] === 'function') return info(...args);
    return HandledPromise.resolve(info(...args));
  };
  return db;
}

/** A promise each of whose derived promises is marked handled (see openRemote). */
class HandledPromise<T> extends Promise<T> {
  override then<A = T, B = never>(onFulfilled?: ((v: T) => A | PromiseLike<A>) | null, onRejected?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    const next = super.then(onFulfilled, onRejected);
    // The base then, so as not to recurse into this override.
    Promise.prototype.then.call(next, undefined, () => undefined);
    return next;
  }
}

/** PouchDB's 404 for a missing or deleted document. */
export function isNotFound(err: unknown): boolean {
  return (err as { status?: number })?.status === 404;
}

export function isConflict(err: unknown): boolean {
  return (err as { status?: number })?.status === 409;
}
