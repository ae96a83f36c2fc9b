// Conflict resolution (CouchDB replication keeps every concurrent edit as a
// leaf of the revision tree; one is picked as "winner" but the others stay).
// Whenever a document has more than one meaningful leaf, all leaves are
// decrypted and merged by the merge function registered for its type; the
// merged content is written on the winning leaf and the other leaves are
// closed with body-less deletions. Leaves are sorted by a canonical key before
// folding, so every device computes the same merge from the same leaves and
// two devices that resolve the same conflict converge (their two identical
// results are then collapsed without another write).
//
// "Meaningful" leaves: live ones, and deletions that carry a sealed body (a
// user's delete). The body-less deletions we write to close leaves are not.
import type { Pouch } from './pouch.js';
import type { EncryptedStore } from './encrypted-store.js';
import type { OpenedDoc } from './doc-crypto.js';
import { isSealed } from './doc-crypto.js';
import { ChangeHub } from './change-hub.js';
import { logger } from '../util/log.js';

const log = logger('soledad-conflicts');

export type MergeFn<T = unknown> = (a: T, b: T) => T;

export interface MergeRule<T = unknown> {
  merge: MergeFn<T>;
  /**
   * A content that marks the document as gone for good (e.g. `expunged: true`).
   * For a type with a tombstone rule, a tombstone — or a deletion — always wins
   * over concurrent edits: it is never resurrected.
   */
  isTombstone?: (content: T) => boolean;
}

interface Leaf {
  rev: string;
  deleted: boolean;
  opened: OpenedDoc;
}

const CHECKPOINT_ID = '_local/soledad-conflicts';

/** Stable JSON: object keys sorted, so equal contents give equal strings. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value as object).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** CouchDB's winner: live before deleted, then the longer history, then the greater rev hash. */
function winnerOf<L extends { rev: string; deleted: boolean }>(leaves: L[]): L {
  const pos = (rev: string): number => Number(rev.split('-')[0]);
  return [...leaves].sort((a, b) => {
    if (a.deleted !== b.deleted) return a.deleted ? 1 : -1;
    if (pos(a.rev) !== pos(b.rev)) return pos(b.rev) - pos(a.rev);
    return a.rev < b.rev ? 1 : a.rev > b.rev ? -1 : 0;
  })[0]!;
}

export class ConflictResolver {
  private readonly rules = new Map<string, MergeRule>();
  private running: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | null = null;
  /** null: never started. */
  private stopped: boolean | null = null;
  /** Number of conflicts resolved (for tests and status). */
  resolved = 0;

  constructor(
    private readonly db: Pouch,
    private readonly store: EncryptedStore,
  ) {}

  register<T>(type: string, rule: MergeRule<T>): void {
    this.rules.set(type, rule as MergeRule);
  }

  private queued: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  /**
   * Resolves every conflict recorded since the last checkpoint. Runs are
   * serialised, and calls made while one is waiting share it: a burst of
   * replicated changes costs one scan, not one per document.
   */
  drain(): Promise<void> {
    if (this.queued) return this.queued;
    const next = this.running.catch(() => undefined).then(() => {
      this.queued = null;
      return this.scan();
    });
    this.queued = next;
    this.running = next;
    return next;
  }

  /** Follows the local changes feed (through the database's change hub) and drains whenever something changes. */
  start(): void {
    if (this.unsubscribe || this.stopped === false) return;
    this.stopped = false;
    // Debounced: replication writes in bursts; one scan per burst is enough.
    const onChange = (): void => {
      if (this.timer || this.stopped) return;
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.drain().catch((err) => log.error({ err: (err as Error).message }, 'conflict resolution failed'));
      }, 100);
    };
    ChangeHub.of(this.db)
      .subscribe({ change: onChange, end: () => undefined })
      .then(
        (unsubscribe) => {
          if (this.stopped) unsubscribe();
          else this.unsubscribe = unsubscribe;
        },
        (err: Error) => log.error({ err: err.message }, 'could not follow changes for conflict resolution'),
      );
    void this.drain().catch((err) => log.error({ err: (err as Error).message }, 'conflict resolution failed'));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.running.catch(() => undefined);
  }

  private async scan(): Promise<void> {
    let since: string | number = 0;
    let checkpointRev: string | undefined;
    try {
      const cp = (await this.db.get(CHECKPOINT_ID)) as unknown as { _rev: string; seq: string | number };
      since = cp.seq;
      checkpointRev = cp._rev;
    } catch {
      // first run
    }
    for (;;) {
      const res = await this.db.changes({ since, limit: 200, style: 'all_docs' });
      for (const r of res.results) {
        if (r.changes.length > 1) await this.resolve(r.id);
      }
      since = res.last_seq;
      const saved = await this.db.put({ _id: CHECKPOINT_ID, _rev: checkpointRev, seq: since } as unknown as PouchDB.Core.PutDocument<Record<string, unknown>>);
      checkpointRev = saved.rev;
      if (res.results.length < 200) break;
    }
  }

  /** Resolves one document's conflict; returns whether anything was written. */
  async resolve(docId: string): Promise<boolean> {
    const leavesRaw = (await this.db.get(docId, { open_revs: 'all' } as PouchDB.Core.GetOpenRevisions)) as unknown as Array<{
      ok?: Record<string, unknown> & { _rev: string; _deleted?: boolean };
    }>;
    const leaves: Leaf[] = [];
    for (const l of leavesRaw) {
      const doc = l.ok;
      if (!doc || !isSealed(doc)) continue; // body-less deletions and non-Soledad docs
      try {
        leaves.push({ rev: doc._rev, deleted: !!doc._deleted, opened: this.store.open(docId, doc) });
      } catch (err) {
        log.warn({ docId, rev: doc._rev, err: (err as Error).message }, 'conflicting revision fails its integrity check; dropped');
        await this.db.remove(docId, doc._rev).catch(() => undefined);
      }
    }
    if (leaves.length < 2) return false;
    const winner = winnerOf(leaves);
    const { type, id } = winner.opened;
    const result = this.merge(type, leaves);

    const writes: Array<Record<string, unknown>> = [];
    const sameAsWinner = result.deleted === winner.deleted && canonicalJson(result.content) === canonicalJson(winner.opened.content);
    if (!sameAsWinner) {
      writes.push({
        _id: docId,
        _rev: winner.rev,
        ...(result.deleted ? { _deleted: true } : {}),
        ...this.store.seal(docId, { type, id, content: result.deleted ? null : result.content }),
      });
    }
    for (const l of leaves) if (l !== winner) writes.push({ _id: docId, _rev: l.rev, _deleted: true });
    await this.db.bulkDocs(writes as never);
    this.resolved++;
    log.debug({ docId, leaves: leaves.length }, 'conflict resolved');
    return true;
  }

  private merge(type: string, leaves: Leaf[]): { deleted: boolean; content: unknown } {
    const rule = this.rules.get(type);
    const sorted = [...leaves].sort((a, b) => {
      const ka = `${a.deleted ? 1 : 0}${canonicalJson(a.opened.content)}`;
      const kb = `${b.deleted ? 1 : 0}${canonicalJson(b.opened.content)}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    if (!rule) {
      // No rule: CouchDB's deterministic winner stands.
      const w = winnerOf(leaves);
      return { deleted: w.deleted, content: w.opened.content };
    }
    if (rule.isTombstone) {
      const isTomb = rule.isTombstone;
      if (sorted.some((l) => l.deleted)) return { deleted: true, content: null };
      const tombs = sorted.filter((l) => isTomb(l.opened.content));
      if (tombs.length > 0) {
        return { deleted: false, content: tombs.map((l) => l.opened.content).reduce((a, b) => rule.merge(a, b)) };
      }
    }
    const live = sorted.filter((l) => !l.deleted);
    // Without a tombstone rule an edit beats a concurrent delete (CouchDB's rule).
    if (live.length === 0) return { deleted: true, content: null };
    return { deleted: false, content: live.map((l) => l.opened.content).reduce((a, b) => rule.merge(a, b)) };
  }
}
