// One live changes listener per local PouchDB database, fanned out in
// process. PouchDB runs a changes() query (a LevelDB iterator over the
// by-sequence store, reading every changed document) for EACH live feed
// after every write; the mail index, the incoming queue, conflict
// resolution and the account's key watch each had one, so a stored message
// (blob chunks, blob metadata, structure, entry, incoming delete) cost a
// handful of queries per write, and each feed decrypted the same documents
// again. The hub holds one PouchDB live feed while it has subscribers and
// hands every change to all of them; a change carries a memo so the
// subscribers that decrypt it (EncryptedStore.changes) do so once.
//
// Subscribing resolves only once the hub's feed has a fixed starting point
// that is not later than the moment of the call. A subscriber that catches
// up by itself (paged changes() queries) subscribes FIRST and catches up
// after: whatever was committed before it subscribed is in its catch-up,
// whatever comes after is delivered by the hub (possibly both: skip by seq).
// PouchDB's LevelDB changes() skips a document rewritten after its snapshot
// began (see type-index.ts); the rewrite lies beyond that snapshot, so the
// hub (whose PouchDB feed queries again after every write) delivers it.
import type { Pouch } from './pouch.js';
import { logger } from '../util/log.js';

const log = logger('soledad-changes');

/** One change as PouchDB's live feed reports it (include_docs). */
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
  /** The hub's feed failed (err) or the database closed: no more changes. */
  end(err?: Error): void;
}

const hubs = new WeakMap<Pouch, ChangeHub>();

export class ChangeHub {
  private readonly listeners = new Set<HubListener>();
  private live: PouchDB.Core.Changes<Record<string, unknown>> | null = null;
  /** Set while the feed's starting seq is being read: subscribers wait for it. */
  private starting: Promise<void> | null = null;
  private closed = false;
  /** Changes handed out (for tests and the bench: one query per burst, not one per feed). */
  delivered = 0;

  private constructor(private readonly db: Pouch) {
    const onClosed = (): void => this.shutdown();
    db.once('closed', onClosed);
    db.once('destroyed', onClosed);
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
      // Last one out: no PouchDB feed (and no query per write) while nobody listens.
      this.stopFeed();
    };
    try {
      if (!this.live) await (this.starting ??= this.startFeed());
      else if (this.starting) await this.starting;
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  private async startFeed(): Promise<void> {
    try {
      // A numeric starting point read now (not 'now', which PouchDB resolves
      // later, after the caller may already have taken its catch-up snapshot).
      const since = (await this.db.info()).update_seq;
      if (this.closed || this.listeners.size === 0 || this.live) return;
      const live = this.db.changes({ since, live: true, include_docs: true, return_docs: false } as PouchDB.Core.ChangesOptions);
      this.live = live;
      live.on('change', (c) => {
        if (this.live !== live) return;
        const change = c as unknown as HubChange;
        this.delivered++;
        for (const l of [...this.listeners]) {
          try {
            l.change(change);
          } catch (err) {
            log.error({ err: (err as Error).message }, 'changes subscriber failed');
          }
        }
      });
      live.on('error', (err) => {
        if (this.live !== live) return;
        const failure = err instanceof Error ? err : new Error(String(err));
        log.error({ err: failure.message }, 'live changes feed failed');
        this.live = null;
        const all = [...this.listeners];
        this.listeners.clear();
        for (const l of all) l.end(failure);
      });
    } finally {
      this.starting = null;
    }
  }

  private stopFeed(): void {
    const live = this.live;
    this.live = null;
    live?.cancel();
  }

  private shutdown(): void {
    this.closed = true;
    this.stopFeed();
    const all = [...this.listeners];
    this.listeners.clear();
    for (const l of all) l.end();
    hubs.delete(this.db);
  }
}
