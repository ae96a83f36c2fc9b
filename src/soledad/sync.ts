// Two-way replication with the provider (CouchDB replication protocol via
// PouchDB): continuous with retry and capped exponential backoff while the
// remote is unreachable, so local work goes on and nothing is lost; plus a
// one-shot pull+push for restore and tests. Keeps a status for progress bars
// and `sealmail status`.
import { EventEmitter } from 'node:events';
import type { Pouch } from './pouch.js';
import { slicedReplicationPair } from './sliced-replication.js';
import { logger } from '../util/log.js';

const log = logger('soledad-sync');

export type SyncState = 'idle' | 'active' | 'paused' | 'offline' | 'error';

export interface SyncStatus {
  state: SyncState;
  connected: boolean;
  /** Changes still waiting to be pulled or pushed, as last reported by each direction's replicator. */
  pending: number;
  /** ISO time of the last moment both directions were caught up. */
  lastSync: string | null;
  lastError: string | null;
}

export interface BackoffOptions {
  /** First retry delay. Default 1 s. */
  initialMs?: number;
  /** Ceiling. Default 60 s. */
  maxMs?: number;
}

export interface SyncOptions {
  backoff?: BackoffOptions;
  /** Documents per replication batch. Default 100. */
  batchSize?: number;
}

/**
 * Batches PouchDB may queue ahead (its default is 10): a queued batch is its
 * changes (ids and revisions); only the batch being replicated holds
 * documents, and their attachment data is read and written in slices of a
 * bounded size (sliced-replication.ts).
 */
const BATCHES_IN_FLIGHT = 2;

/** Longest wait before retrying after the local disk was full (the remote's outages back off to a minute). */
const LOCAL_RETRY_MAX_MS = 5000;

/** LevelDB's "IO error: …: No space left on device" and the OS's ENOSPC: this device's disk, not the network. */
export function isLocalDiskError(err: unknown): boolean {
  const e = err as { message?: string; reason?: string } | null;
  return /No space left on device|ENOSPC/i.test(`${e?.message ?? ''} ${e?.reason ?? ''}`);
}

type DirectionState = 'active' | 'idle' | 'offline' | 'paused';

/** Emits 'status' (SyncStatus) whenever the status changes, 'change' after documents moved. */
export class SyncController extends EventEmitter {
  private current: SyncStatus = { state: 'paused', connected: false, pending: 0, lastSync: null, lastError: null };
  private handle: PouchDB.Replication.Sync<Record<string, unknown>> | null = null;
  /** What the replicator is given: the two databases with attachment data moved in slices of bounded bytes. */
  private readonly views: { local: Pouch; remote: Pouch };

  constructor(
    private readonly local: Pouch,
    private readonly remote: Pouch,
    private readonly opts: SyncOptions = {},
  ) {
    super();
    this.views = slicedReplicationPair(local, remote);
  }

  /**
   * PouchDB's own sync and replicate, given the views: the instance methods
   * (db.sync, db.replicate.to) would pass the database itself.
   */
  private pouchDb(): PouchDB.Static {
    return this.local.constructor as unknown as PouchDB.Static;
  }

  status(): SyncStatus {
    return { ...this.current };
  }

  private set(patch: Partial<SyncStatus>): void {
    this.current = { ...this.current, ...patch };
    this.emit('status', this.status());
  }

  /** The last failure was the local store's disk (full), not the remote: retry soon, as space may come back any time. */
  private localFailure = false;

  private backOff = (delay: number): number => {
    const initial = this.opts.backoff?.initialMs ?? 1000;
    const max = this.localFailure ? Math.min(LOCAL_RETRY_MAX_MS, this.opts.backoff?.maxMs ?? LOCAL_RETRY_MAX_MS) : (this.opts.backoff?.maxMs ?? 60_000);
    const next = delay === 0 ? initial : Math.min(max, delay * 2);
    // Jitter (±20%) so many devices do not retry in lockstep after an outage.
    return Math.round(next * (0.8 + Math.random() * 0.4));
  };

  /** Starts continuous replication in both directions. */
  start(): void {
    if (this.handle) return;
    const h = this.pouchDb().sync(this.views.local, this.views.remote, {
      live: true,
      retry: true,
      batch_size: this.opts.batchSize ?? 100,
      batches_limit: BATCHES_IN_FLIGHT,
      back_off_function: this.backOff,
    } as PouchDB.Replication.SyncOptions);
    this.handle = h;
    // The combined Sync object reports 'paused' without the error when a
    // retry is pending; each direction's own events carry it.
    const directions = { push: 'paused' as DirectionState, pull: 'paused' as DirectionState };
    const pending = { push: 0, pull: 0 };
    const update = (dir: 'push' | 'pull', st: DirectionState, err?: unknown): void => {
      directions[dir] = st;
      const states = [directions.push, directions.pull];
      if (st === 'offline') {
        const message = describe(err);
        if (isLocalDiskError(err)) log.warn({ direction: dir, err: message }, 'sync paused: the local store cannot write (disk full?), will retry');
        else log.warn({ direction: dir, err: message }, 'sync paused: remote unreachable, will retry');
        this.set({ state: 'offline', connected: false, lastError: message });
      } else if (states.includes('active')) {
        this.set({ state: 'active', connected: true });
      } else if (states.every((x) => x === 'idle')) {
        pending.push = pending.pull = 0;
        this.set({ state: 'idle', connected: true, pending: 0, lastSync: new Date().toISOString(), lastError: null });
      }
    };
    for (const dir of ['push', 'pull'] as const) {
      const r = (h as unknown as Record<string, EventEmitter>)[dir]!;
      r.on('active', () => update(dir, 'active'));
      // Emitted right before PouchDB asks back_off_function for the next delay.
      r.on('requestError', (err: unknown) => (this.localFailure = isLocalDiskError(err)));
      r.on('paused', (err?: unknown) => update(dir, err ? 'offline' : 'idle', err));
    }
    h.on('change', (info: { direction: 'push' | 'pull'; change: { docs_written: number; pending?: number; last_seq?: number | string } }) => {
      if (typeof info.change.pending === 'number') {
        // Pull: reported by servers that support it (CouchDB 2.0+).
        pending[info.direction] = info.change.pending;
        this.set({ pending: pending.push + pending.pull });
      } else if (info.direction === 'push' && typeof info.change.last_seq === 'number') {
        // Push: our local seqs are integers, so what is left is update_seq - last pushed seq.
        const pushed = info.change.last_seq;
        void this.local.info().then((i) => {
          if (directions.push === 'idle') return; // caught up meanwhile
          pending.push = Math.max(0, Number(i.update_seq) - pushed);
          this.set({ pending: pending.push + pending.pull });
        }, () => undefined);
      }
      this.emit('change', info);
    });
    h.on('denied', (err: unknown) => this.set({ lastError: `denied: ${describe(err)}` }));
    h.on('error', (err: unknown) => {
      const message = describe(err);
      log.error({ err: message }, 'sync stopped');
      this.set({ state: 'error', connected: false, lastError: message });
      this.handle = null;
    });
  }

  stop(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    if (!h) return Promise.resolve();
    return new Promise<void>((resolve) => {
      h.on('complete', () => resolve());
      h.cancel();
      // 'complete' is not always emitted once a retry loop is waiting.
      setTimeout(resolve, 500).unref();
    }).then(() => this.set({ state: 'paused', connected: false }));
  }

  get running(): boolean {
    return this.handle !== null;
  }

  /** One pull, then `between` (e.g. conflict resolution), then one push (unless `push` is false). */
  async syncOnce(between?: () => Promise<void>, opts: { push?: boolean } = {}): Promise<{ pulled: number; pushed: number }> {
    const batch_size = this.opts.batchSize ?? 100;
    try {
      const pulling = this.pouchDb().replicate(this.views.remote, this.views.local, { batch_size, batches_limit: BATCHES_IN_FLIGHT });
      // Batches of a one-shot pull are reported like the live sync's (progress of a restore).
      pulling.on('change', (change) => this.emit('change', { direction: 'pull', change }));
      const pull = await pulling;
      await between?.();
      const push = opts.push === false ? { docs_written: 0 } : await this.pouchDb().replicate(this.views.local, this.views.remote, { batch_size, batches_limit: BATCHES_IN_FLIGHT });
      this.set({ connected: true, pending: 0, lastSync: new Date().toISOString(), lastError: null, state: this.running ? this.current.state : 'idle' });
      return { pulled: pull.docs_written, pushed: push.docs_written };
    } catch (err) {
      this.set({ connected: false, lastError: describe(err), state: this.running ? this.current.state : 'offline' });
      throw err;
    }
  }
}

function describe(err: unknown): string {
  const e = err as { message?: string; reason?: string; status?: number; name?: string };
  const text = e?.reason ?? e?.message ?? e?.name ?? String(err);
  return e?.status ? `${e.status} ${text}` : text;
}
