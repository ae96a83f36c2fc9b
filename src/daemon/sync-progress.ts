// Progress of pulling documents from the provider: the initial sync of a new
// device (`sealmail account login`, a progress bar in a terminal) and any
// large catch-up of the running daemon (`sealmail status`).
//
// "Pulled" counts the changes the replicator has read (PouchDB's docs_read);
// the total is pulled + what the provider still has for us, asked once per
// catch-up from its _changes feed: CouchDB 2+ answers `pending` to a
// limit=0 request; the embedded server does not, so its remaining rows are
// counted (ids and revisions only, no document bodies).
import type { EventEmitter } from 'node:events';
import { logger } from '../util/log.js';

const log = logger('sync-progress');

export interface PullProgress {
  /** A pull is under way. */
  active: boolean;
  /** Documents pulled in the current (or last) catch-up. */
  pulled: number;
  /** pulled + what the provider still had then; null until known; equals pulled once caught up. */
  total: number | null;
  /** Documents pulled since this tracker started (the daemon's start). */
  sinceStart: number;
}

export interface PullChange {
  docs_read: number;
  last_seq?: number | string;
  pending?: number;
}

export interface RemoteDb {
  /** The database URL (the provider's sync gateway). */
  url: string;
  headers: Record<string, string>;
}

/** A catch-up whose first batch reads at least this many changes is worth asking the provider how much is left. */
const BIG_BATCH = 50;

/** How many changes the provider's database still has after `since` (null when it cannot be asked). */
export async function remainingChanges(db: RemoteDb, since: number | string): Promise<number | null> {
  const base = db.url.endsWith('/') ? db.url : `${db.url}/`;
  const get = async (query: string): Promise<{ pending?: number; results?: unknown[] } | null> => {
    const res = await fetch(new URL(`_changes?${query}`, base), { headers: db.headers, signal: AbortSignal.timeout(60_000) });
    return res.ok ? ((await res.json()) as { pending?: number; results?: unknown[] }) : null;
  };
  try {
    const since_ = encodeURIComponent(String(since));
    const head = await get(`since=${since_}&limit=0`);
    if (typeof head?.pending === 'number') return head.pending;
    const all = await get(`since=${since_}&style=main_only`);
    return Array.isArray(all?.results) ? all.results.length : null;
  } catch (err) {
    log.debug({ err: (err as Error).message }, 'could not ask the provider how much is left to pull');
    return null;
  }
}

export class PullProgressTracker {
  private state: PullProgress = { active: false, pulled: 0, total: null, sinceStart: 0 };
  private lastRead = 0;
  private asking = false;
  private asked = false;

  constructor(
    private readonly remote: RemoteDb,
    private readonly onUpdate: (p: PullProgress) => void = () => undefined,
  ) {}

  get progress(): PullProgress {
    return { ...this.state };
  }

  /** A catch-up starts; `knownTotal` when the caller already asked (a restore from scratch). */
  begin(knownTotal: number | null = null): void {
    if (this.state.active) return;
    this.asked = knownTotal !== null;
    this.set({ active: true, pulled: 0, total: knownTotal });
  }

  /** One replicated batch (PouchDB 'change' info of the pull direction). */
  change(info: PullChange): void {
    // docs_read counts from each replication (re)start: a retry after an outage starts again at 0.
    const delta = info.docs_read >= this.lastRead ? info.docs_read - this.lastRead : info.docs_read;
    this.lastRead = info.docs_read;
    if (!this.state.active) this.begin();
    const pulled = this.state.pulled + delta;
    let total = this.state.total;
    if (typeof info.pending === 'number') total = pulled + info.pending;
    else if (total !== null) total = Math.max(total, pulled);
    this.set({ pulled, total, sinceStart: this.state.sinceStart + delta });
    if (!this.asked && !this.asking && delta >= BIG_BATCH && info.last_seq !== undefined) this.askRemaining(info.last_seq);
  }

  /** Caught up: the total is what was pulled. */
  end(): void {
    if (!this.state.active) return;
    this.set({ active: false, total: this.state.pulled });
  }

  private askRemaining(since: number | string): void {
    this.asking = true;
    const pulledThen = this.state.pulled;
    void remainingChanges(this.remote, since).then((left) => {
      this.asking = false;
      this.asked = true;
      if (left === null || !this.state.active) return;
      this.set({ total: Math.max(this.state.pulled, pulledThen + left) });
    });
  }

  private set(patch: Partial<PullProgress>): void {
    this.state = { ...this.state, ...patch };
    this.onUpdate(this.progress);
  }
}

/** Follows a Soledad's live sync (its 'sync-change' and 'sync' events): what `sealmail status` shows. */
export function trackPulls(soledad: EventEmitter, remote: RemoteDb, onUpdate?: (p: PullProgress) => void): PullProgressTracker {
  const tracker = new PullProgressTracker(remote, onUpdate);
  soledad.on('sync-change', (info: { direction: string; change: PullChange }) => {
    if (info.direction === 'pull') tracker.change(info.change);
  });
  soledad.on('sync', (s: { state: string }) => {
    if (s.state === 'idle') tracker.end();
  });
  return tracker;
}
