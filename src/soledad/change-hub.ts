// One live changes reader per local PouchDB database, fanned out in
// process. PouchDB runs a changes() query (a LevelDB iterator over the
// by-sequence store, reading every changed document) for EACH live feed
// after every write; the mail index, the incoming queue, conflict
// resolution and the account's key watch each had one, so a stored message
// (blob chunks, blob metadata, structure, entry, incoming delete) cost a
// handful of queries per write, and each feed decrypted the same documents
// again. The hub reads the database's changes once while it has subscribers
// and hands every change to all of them; a change carries a memo so the
// subscribers that decrypt it (EncryptedStore.changes) do so once.
//
// The hub reads in pages of PAGE changes (changes() with a limit) when told
// that something was written, not through PouchDB's live feed: that feed
// runs one query over everything since its last change, without a limit,
// and the query keeps the metadata (revision tree) of every document it has
// read until it ends — a burst of 50k documents arriving by sync held all
// of them, and the subscribers' queues grew as fast as LevelDB could be
// read. Before the next page the hub waits until every subscriber that can
// say so (EncryptedStore's readers) holds fewer than BACKLOG undelivered
// changes: reading goes at the pace of the slowest reader. It learns of
// writes by wrapping the database's bulkDocs, which every local write goes
// through (put, remove and attachments in pouchdb-core, replication's
// new_edits=false writes, pouch.ts's group commit); it reads again after
// every write that completes while it reads, so a write committed after a
// page's LevelDB snapshot is read by the next query.
//
// Subscribing resolves only once the hub's reading has a fixed starting
// point that is not later than the moment of the call. A subscriber that catches
// up by itself (paged changes() queries) subscribes FIRST and catches up
// after: whatever was committed before it subscribed is in its catch-up,
// whatever comes after is delivered by the hub (possibly both: skip by seq).
// PouchDB's LevelDB changes() skips a document rewritten after its snapshot
// began (see type-index.ts); the rewrite lies beyond that snapshot, so the
// hub (which queries again after every write) delivers it.
import type { Pouch } from './pouch.js';
import { logger } from '../util/log.js';

const log = logger('soledad-changes');

/** Changes read per query. */
const PAGE = 500;
/** Undelivered changes a subscriber may hold before the hub waits for it before reading on. */
const BACKLOG = 2000;
/** For tests: how far the hub reads ahead of its slowest reader at most. */
export const HUB_READ_AHEAD = { page: PAGE, backlog: BACKLOG } as const;

/** One change as PouchDB's changes() reports it (include_docs). */
export interface HubChange {
  readonly id: string;
  readonly seq: number | string;
  readonly deleted?: boolean;
  readonly doc?: Record<string, unknown>;
  /** Shared by the subscribers of this change: what decrypting the doc gave (see EncryptedStore.toChange). */
  memo?: unknown;
}

export interface HubListener {
  change(c: HubChange): void;
  /** The hub's reading failed (err) or the database closed: no more changes. */
  end(err?: Error): void;
  /** Resolves once this subscriber holds fewer than `n` changes it has not consumed (back-pressure, see above). */
  whenBelow?(n: number): Promise<void>;
}

const hubs = new WeakMap<Pouch, ChangeHub>();

type BulkDocs = (...args: unknown[]) => unknown;

export class ChangeHub {
  private readonly listeners = new Set<HubListener>();
  /** Set while the starting seq is being read: subscribers wait for it. */
  private starting: Promise<void> | null = null;
  /** Reading is on (subscribers, and a starting point). */
  private active = false;
  /** The last seq read: the next query starts after it. */
  private since: number | string = 0;
  /** Bumped when reading restarts from a new point: a query from the old one is dropped. */
  private generation = 0;
  private reading = false;
  /** A write completed since the current query began: read again. */
  private rung = false;
  private closed = false;
  /** Changes handed out (for tests and the bench). */
  delivered = 0;
  /** changes() queries run (for tests). */
  queries = 0;

  private constructor(private readonly db: Pouch) {
    const onClosed = (): void => this.shutdown();
    db.once('closed', onClosed);
    db.once('destroyed', onClosed);
    this.hearWrites();
  }

  /** The hub of a database (one per PouchDB object). */
  static of(db: Pouch): ChangeHub {
    let hub = hubs.get(db);
    if (!hub) {
      hub = new ChangeHub(db);
      hubs.set(db, hub);
    }
    return hub;
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Rings after every bulkDocs call (with a callback or a promise), whatever its outcome. */
  private hearWrites(): void {
    const db = this.db as unknown as { bulkDocs: BulkDocs };
    const original = db.bulkDocs;
    const ring = (): void => this.ring();
    db.bulkDocs = function (this: unknown, ...args: unknown[]): unknown {
      const cb = args[args.length - 1];
      if (typeof cb === 'function') {
        args[args.length - 1] = (err: unknown, res: unknown): void => {
          ring();
          (cb as (e: unknown, r: unknown) => void)(err, res);
        };
        return original.apply(this, args);
      }
      const result = original.apply(this, args) as Promise<unknown> | undefined;
      result?.then(ring, ring);
      return result;
    };
  }

  /**
   * Adds a listener; resolves (with the unsubscribe function) once every
   * change committed from now on will reach it.
   */
  async subscribe(listener: HubListener): Promise<() => void> {
    if (this.closed) {
      listener.end();
      return () => undefined;
    }
    this.listeners.add(listener);
    const unsubscribe = (): void => {
      if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
      // Last one out: no reading while nobody listens.
      this.active = false;
    };
    try {
      if (!this.active) await (this.starting ??= this.start());
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  private async start(): Promise<void> {
    try {
      // A numeric starting point read now (not 'now', which PouchDB resolves
      // later, after the caller may already have taken its catch-up snapshot).
      const since = (await this.db.info()).update_seq;
      if (this.closed || this.listeners.size === 0 || this.active) return;
      this.since = since;
      this.generation++;
      this.active = true;
      // A write may have completed between info() and now: one query finds out.
      this.ring();
    } finally {
      this.starting = null;
    }
  }

  private ring(): void {
    if (!this.active) return;
    this.rung = true;
    if (!this.reading) void this.read();
  }

  /** Reads pages until nothing was written since the last query began. */
  private async read(): Promise<void> {
    this.reading = true;
    try {
      while (this.rung && this.active && !this.closed) {
        this.rung = false;
        const generation = this.generation;
        const from = this.since;
        this.queries++;
        const res = await this.db.changes({ since: from, limit: PAGE, include_docs: true, return_docs: true });
        if (generation !== this.generation || !this.active || this.closed) {
          this.rung = true; // restarted meanwhile: read from the new point
          continue;
        }
        for (const c of res.results) this.deliver(c as unknown as HubChange);
        this.since = res.last_seq;
        if (res.results.length >= PAGE) {
          this.rung = true;
          await this.roomForMore();
        }
      }
    } catch (err) {
      if (!this.closed) this.fail(err instanceof Error ? err : new Error(String(err)));
    } finally {
      // No await between the loop's last check of `rung` and here: a ring after it starts a new read.
      this.reading = false;
    }
  }

  private deliver(change: HubChange): void {
    this.delivered++;
    for (const l of [...this.listeners]) {
      try {
        l.change(change);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'changes subscriber failed');
      }
    }
  }

  /** Waits until every subscriber that tells its backlog holds fewer than BACKLOG changes. */
  private async roomForMore(): Promise<void> {
    for (const l of [...this.listeners]) {
      if (!l.whenBelow || !this.listeners.has(l)) continue;
      try {
        await l.whenBelow(BACKLOG);
      } catch {
        // a subscriber that cannot say does not hold the others back
      }
    }
  }

  private fail(failure: Error): void {
    log.error({ err: failure.message }, 'reading changes failed');
    this.active = false;
    const all = [...this.listeners];
    this.listeners.clear();
    for (const l of all) l.end(failure);
  }

  private shutdown(): void {
    this.closed = true;
    this.active = false;
    const all = [...this.listeners];
    this.listeners.clear();
    for (const l of all) l.end();
    hubs.delete(this.db);
  }
}
