// Blob garbage collection: the bytes of messages expunged everywhere are
// deleted, here and (by sync) at the provider and on the account's other
// devices. A blob is shared by every entry with its hash, and another device
// may COPY/APPEND the same content at any moment, so deletion is a protocol:
//
// 1. A device whose index holds entries for a hash but no live one (all
//    expunged) and still has the blob PROPOSES its deletion: a synced intent
//    document (blob-gc-docs.ts, id = hash) with a round number, the proposer,
//    the proposal time and the blob's current write (blobVersion).
// 2. Every device, on each pass, records in its own synced CHECK-IN document
//    (one writer each, so no update is lost) an ACK of each pending round when
//    it has no live entry for the hash, or a CANCEL when it has one (content
//    it stored in the last 10 minutes counts as live: its entry may not be
//    in the index yet). storeContent cancels too (contentNeededAgain), and it
//    writes the blob again instead of reusing it: a new write, which the
//    deleter never deletes.
// 3. The proposer deletes the blob once (a) the grace period (default 24 h)
//    has passed since the proposal, (b) no check-in cancels the round, (c)
//    every active device has acked that very round, (d) its own index still
//    has no live entry, (e) the blob is still the write proposed (deleteBlob
//    ifVersion). Then it marks the intent deleted; chunks go before the head
//    (blob-store.ts), so a crash at any point leaves a blob that the next
//    pass deletes again, never one a live message refers to. A legacy
//    separate structure document of the hash is deleted with it.
// Acks are explicit, not inferred from clocks: a device's check-in time says
// nothing about which documents it had received, and devices' clocks differ.
// ACTIVE devices are those whose check-in is younger than `staleMs` (30 days):
// a device gone longer (lost, wiped, never started again) no longer blocks
// collection. If it comes back with a message it APPENDed or COPYed offline
// whose content was collected meanwhile, that message reads as missing
// content (IMAP NO); everything else it has is still there.
// A cancelled round is followed by a new round once the hash is unused again
// (no sooner than the grace period after the cancel, to avoid churn); an
// intent whose proposer is stale is taken over the same way. A round number
// is never used twice for a hash (max(last + 1, now in ms)), so an ack left
// in a check-in from an earlier round never counts for a later one. Settled
// intents are removed by their proposer a grace period after they settled
// (each pass reads every intent: they must not pile up); by then the blob's
// deletion is ahead of the intent's removal in every device's sync feed.
// Old stores: the first pass proposes every blob whose entries are all
// expunged, so space held since before this existed is freed after the grace
// period. Blobs that no entry refers to at all (a crash between storing the
// content and its entry, the content not chosen when two devices stored one
// delivery with different bytes) are found by listing the blobs once a day,
// and proposed once they were seen so a grace period apart.
import type { Doc, DocumentStore } from '../../soledad/types.js';
import { DOC } from './documents.js';
import { withContentLock } from './content.js';
import { GC_DOC, followIntents, rememberIntents, setCancelHook, storedLately, type CheckinDoc, type GcIntentDoc } from './blob-gc-docs.js';
import { scanEntries, sweepOrphans, turn, type EntryScan, type IndexEntry } from './blob-gc-scan.js';

export { indexEntriesOf, mailDeviceId } from './blob-gc-scan.js';
import { logger } from '../../util/log.js';

const log = logger('blob-gc');
const HOUR = 3600_000;
const DAY = 24 * HOUR;

export interface BlobGcTiming {
  /** How long a blob stays after its deletion was proposed (default 24 h). */
  graceMs?: number;
  /** A device not checked in for this long no longer blocks collection (default 30 days). */
  staleMs?: number;
  /** Time between passes (default 1 h). */
  intervalMs?: number;
  /** First pass this long after start, off the start-up path (default 60 s). */
  firstRunMs?: number;
  /** See BlobGcOptions.storedLatelyMs. */
  storedLatelyMs?: number;
  /** See BlobGcOptions.propose. */
  propose?: boolean;
}

export interface BlobGcOptions {
  docs: DocumentStore;
  /** Every entry the index holds, expunged ones too (read synchronously). */
  entries: () => Iterable<IndexEntry>;
  /** This device's id (stable across restarts). */
  device: string;
  /** How long a blob stays after its deletion was proposed (default 24 h). */
  graceMs?: number;
  /** A device not checked in for this long no longer blocks collection (default 30 days). */
  staleMs?: number;
  /** Deletions per batch; the event loop gets a turn between batches (default 50). */
  batch?: number;
  now?: () => number;
  /**
   * The store's disk: deleted data stays on disk until a compaction reaches
   * it, so once the bytes freed since the last compaction reach 10% of the
   * store (at least 16 MB) it is compacted (at most ~10x the bytes freed rewritten).
   */
  storage?: { bytes(): Promise<number>; compact(): Promise<void> };
  /** How often the stored blobs are listed for ones no entry refers to (default 24 h; needs DocumentStore.blobIds). */
  sweepEveryMs?: number;
  /** Content stored here this recently counts as live: its entry may not be in the index yet (default 10 min). */
  storedLatelyMs?: number;
  /**
   * false: this device proposes and deletes nothing (a user's config turned
   * collection off). It still checks in, acking or cancelling the other
   * devices' rounds, so content it shows is protected and they are not held up.
   */
  propose?: boolean;
}

export interface BlobGcStats {
  runs: number;
  lastRunAt: string | null;
  /** Blobs and bytes this device deleted since it started. */
  freedBlobs: number;
  freedBytes: number;
  /** Deletions this device proposed that are waiting (grace period, other devices' acks). */
  pending: number;
  lastError: string | null;
}

export interface GcRunReport {
  proposed: number;
  cancelled: number;
  deleted: number;
  freedBytes: number;
  pending: number;
}

export class BlobGc {
  readonly stats: BlobGcStats = { runs: 0, lastRunAt: null, freedBlobs: 0, freedBytes: 0, pending: 0, lastError: null };
  private readonly docs: DocumentStore;
  private readonly device: string;
  private readonly graceMs: number;
  private readonly staleMs: number;
  private readonly batchSize: number;
  private readonly now: () => number;
  /** This device's check-in as last written; writes of it are serialized (`writing`). */
  private mine: CheckinDoc | null = null;
  private writing: Promise<unknown> = Promise.resolve();
  private running: Promise<GcRunReport> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Bytes freed since the store was last compacted (see BlobGcOptions.storage). */
  private uncompacted = 0;
  /** Blobs no entry referred to at the last sweep, with when that was first seen. */
  private orphans = new Map<string, number>();
  private lastSweep = -Infinity;
  /**
   * Unused hashes whose blob is known to be gone: not looked up again. Not
   * kept across restarts: the first pass lists the stored blobs anyway (the
   * sweep), which tells them apart without a read each. A hash leaves it when
   * an entry for it is live, it was stored here lately, or a listing shows it.
   */
  private readonly gone = new Set<string>();
  /** Ends the in-memory set of unsettled intents that spares storeContent a read (blob-gc-docs.ts). */
  private readonly unfollow: () => void;

  constructor(private readonly opts: BlobGcOptions) {
    this.docs = opts.docs;
    this.device = opts.device;
    this.graceMs = opts.graceMs ?? DAY;
    this.staleMs = opts.staleMs ?? 30 * DAY;
    this.batchSize = opts.batch ?? 50;
    this.now = opts.now ?? Date.now;
    setCancelHook(this.docs, (hash, round) => this.updateCheckin((c) => {
      c.cancels[hash] = round;
      delete c.acks[hash];
    }));
    this.unfollow = followIntents(this.docs);
  }

  /** Checks in now (a new device is then known to the others before it stores anything), then runs now and then. */
  start(opts: { intervalMs?: number; firstRunMs?: number } = {}): void {
    this.stopped = false;
    void this.updateCheckin(() => undefined).catch((err: Error) => log.warn({ err: err.message }, 'check-in failed'));
    const every = opts.intervalMs ?? HOUR;
    const schedule = (ms: number): void => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        void this.run()
          .catch(() => undefined)
          .finally(() => schedule(every));
      }, ms);
      this.timer.unref();
    };
    schedule(opts.firstRunMs ?? 60_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
    await this.writing.catch(() => undefined);
    setCancelHook(this.docs, null);
    this.unfollow();
  }

  /** One pass (a pass already running is shared). */
  run(): Promise<GcRunReport> {
    this.running ??= this.pass()
      .then(
        (report) => {
          this.stats.runs++;
          this.stats.lastRunAt = new Date(this.now()).toISOString();
          this.stats.pending = report.pending;
          this.stats.lastError = null;
          if (report.deleted + report.proposed + report.cancelled > 0) log.info({ ...report }, 'blob garbage collection pass');
          return report;
        },
        (err: Error) => {
          this.stats.lastError = err.message;
          log.warn({ err: err.message }, 'blob garbage collection pass failed; next pass retries');
          throw err;
        },
      )
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async pass(): Promise<GcRunReport> {
    const report: GcRunReport = { proposed: 0, cancelled: 0, deleted: 0, freedBytes: 0, pending: 0 };
    const now = this.now();
    const { live, dead } = this.scan();
    /** Set when this pass listed the blobs (the first pass after a start, then daily): the dead hashes stored here. */
    let listed: Set<string> | null = null;
    if (this.docs.blobIds && now - this.lastSweep >= (this.opts.sweepEveryMs ?? DAY)) {
      this.lastSweep = now;
      const sweep = await sweepOrphans(this.docs, { live, dead, seen: this.orphans, now, graceMs: this.graceMs, gone: this.gone });
      this.orphans = sweep.orphans;
      listed = sweep.listed;
    }
    const intents = await this.all<GcIntentDoc>(GC_DOC.intent);
    rememberIntents(this.docs, intents);
    const checkins = await this.checkins();
    const active = [...checkins.keys()].filter((d) => d === this.device || checkins.get(d)!.seenAt >= now - this.staleMs);
    const writes = new Map<string, GcIntentDoc>();
    const settle = (hash: string, doc: GcIntentDoc, state: 'cancelled' | 'deleted'): void => {
      const next = { ...doc, state, settledAt: this.now() };
      intents.set(hash, next);
      writes.set(hash, next);
    };

    // Rounds this device proposed: cancel, wait, or delete.
    const deletable: string[] = [];
    const forget: string[] = [];
    for (const [hash, it] of intents) {
      if (it.by !== this.device) continue;
      if (it.state === 'pending') {
        // Collection turned off here: its own rounds are withdrawn, so another device may propose again.
        if (live.has(hash) || cancelledIn(checkins, hash, it.round) || this.opts.propose === false) {
          settle(hash, it, 'cancelled');
          report.cancelled++;
        } else if (now - it.proposedAt >= this.graceMs && active.every((d) => d === this.device || checkins.get(d)!.acks[hash] === it.round)) {
          deletable.push(hash);
        } else report.pending++;
      } else if (it.state === 'deleted' && live.has(hash)) {
        // Stored again since (a rewrite): later stores need not rewrite it again.
        settle(hash, it, 'cancelled');
      } else if (it.settledAt !== null && now - it.settledAt >= this.graceMs) forget.push(hash);
    }

    // Unused content: propose its deletion.
    let looked = 0;
    for (const [hash, size] of this.opts.propose === false ? [] : dead) {
      if (this.gone.has(hash)) continue;
      const it = intents.get(hash);
      if (it && !this.mayPropose(it, active, now)) continue;
      if (++looked % 200 === 0) {
        await turn();
        if (this.stopped) break; // closing: what is proposed so far is written below
      }
      // Not in the listing just made: not stored here, no read needed (after a start, each blob collected before).
      const write = listed && !listed.has(hash) ? null : await this.version(hash);
      if (write === null) {
        if (!it || it.state !== 'pending') this.gone.add(hash);
        continue;
      }
      const doc: GcIntentDoc = {
        v: 1,
        round: Math.max((it?.round ?? 0) + 1, now),
        state: 'pending',
        by: this.device,
        proposedAt: now,
        write,
        size, // RFC822.SIZE is the blob's size
        settledAt: null,
      };
      intents.set(hash, doc);
      writes.set(hash, doc);
      report.proposed++;
      report.pending++;
    }
    await this.writeIntents(writes);
    rememberIntents(this.docs, writes);

    // This device's acks and cancels of every pending round (its own included).
    await this.updateCheckin((c) => {
      const acks: Record<string, number> = {};
      const cancels: Record<string, number> = {};
      for (const [hash, it] of intents) {
        if (it.state !== 'pending') continue;
        if (live.has(hash) || c.cancels[hash] === it.round) cancels[hash] = it.round;
        else acks[hash] = it.round;
      }
      c.acks = acks;
      c.cancels = cancels;
    });

    for (let i = 0; i < deletable.length; i += this.batchSize) {
      if (this.stopped || this.opts.propose === false) break;
      await this.deleteBatch(deletable.slice(i, i + this.batchSize), report);
      await turn();
    }
    for (const hash of forget) {
      if (intents.get(hash)?.state !== 'pending') await this.docs.delete(GC_DOC.intent, hash); // not proposed again above
    }
    this.uncompacted += report.freedBytes;
    if (report.freedBytes > 0) {
      await this.maybeCompact().catch((err: Error) => log.warn({ err: err.message }, 'store compaction failed; the next pass that frees space tries again'));
    }
    return report;
  }

  private async maybeCompact(): Promise<void> {
    const storage = this.opts.storage;
    if (!storage || this.stopped) return;
    const before = await storage.bytes();
    if (this.uncompacted < Math.max(16 << 20, before / 10)) return;
    const started = this.now();
    await storage.compact();
    this.uncompacted = 0;
    log.info({ before, after: await storage.bytes(), ms: this.now() - started }, 'store compacted after blob garbage collection');
  }

  /** Another round may be proposed: the last one was cancelled a grace period ago, deleted (yet the blob is here), or its proposer is gone. */
  private mayPropose(it: GcIntentDoc, active: string[], now: number): boolean {
    if (it.state === 'cancelled') return now - (it.settledAt ?? 0) >= this.graceMs;
    if (it.state === 'deleted') return true;
    return it.by !== this.device && !active.includes(it.by);
  }

  /** Deletes a batch of blobs, each re-checked under the content lock, then records the outcome. */
  private async deleteBatch(hashes: string[], report: GcRunReport): Promise<void> {
    const { live } = this.scan();
    const checkins = await this.checkins();
    const writes = new Map<string, GcIntentDoc>();
    for (const hash of hashes) {
      await withContentLock(hash, async () => {
        const it = await this.docs.get<GcIntentDoc>(GC_DOC.intent, hash);
        if (!it || it.state !== 'pending' || it.by !== this.device) return;
        const settle = (state: 'cancelled' | 'deleted'): void => {
          writes.set(hash, { ...it, state, settledAt: this.now() });
        };
        if (live.has(hash) || cancelledIn(checkins, hash, it.round)) {
          settle('cancelled');
          report.cancelled++;
          return;
        }
        await this.docs.deleteBlob(hash, { ifVersion: it.write });
        if ((await this.version(hash)) !== null) {
          // Written again since the proposal (a device stored this content): it stays.
          settle('cancelled');
          report.cancelled++;
          return;
        }
        await this.docs.delete(DOC.structure, hash);
        settle('deleted');
        this.gone.add(hash);
        report.deleted++;
        report.freedBytes += it.size;
        this.stats.freedBlobs++;
        this.stats.freedBytes += it.size;
      });
    }
    await this.writeIntents(writes);
  }

  private async writeIntents(writes: Map<string, GcIntentDoc>): Promise<void> {
    if (writes.size === 0) return;
    await this.docs.bulkPut([...writes].map(([id, content]): Doc => ({ type: GC_DOC.intent, id, content })));
  }

  /** The index's entries, with content stored lately counted as live (its entry may not be written yet). */
  private scan(): EntryScan {
    const scan = scanEntries(this.opts.entries(), this.gone);
    for (const hash of storedLately(this.docs, this.opts.storedLatelyMs ?? 10 * 60_000)) {
      scan.live.add(hash);
      scan.dead.delete(hash);
      this.gone.delete(hash);
    }
    return scan;
  }

  private async version(hash: string): Promise<string | null> {
    if (this.docs.blobVersion) return this.docs.blobVersion(hash);
    return (await this.docs.hasBlob(hash)) ? 'unversioned' : null;
  }

  private async all<T>(type: string): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    for await (const d of this.docs.query<T>(type)) out.set(d.id, d.content);
    return out;
  }

  /** Every device's check-in, this device's as it last wrote it. */
  private async checkins(): Promise<Map<string, CheckinDoc>> {
    const all = await this.all<CheckinDoc>(GC_DOC.checkin);
    all.set(this.device, await this.ownCheckin());
    return all;
  }

  private async ownCheckin(): Promise<CheckinDoc> {
    this.mine ??= (await this.docs.get<CheckinDoc>(GC_DOC.checkin, this.device)) ?? { v: 1, n: 0, seenAt: 0, acks: {}, cancels: {} };
    return this.mine;
  }

  /** Changes this device's check-in (seenAt = now) and writes it; one write at a time. */
  private updateCheckin(change: (c: CheckinDoc) => void): Promise<void> {
    const run = this.writing.catch(() => undefined).then(async () => {
      const next = structuredClone(await this.ownCheckin());
      change(next);
      next.seenAt = Math.max(this.now(), next.seenAt);
      next.n = (next.n ?? 0) + 1;
      await this.docs.put(GC_DOC.checkin, this.device, next);
      this.mine = next;
    });
    this.writing = run;
    return run;
  }
}

function cancelledIn(checkins: Map<string, CheckinDoc>, hash: string, round: number): boolean {
  for (const c of checkins.values()) if (c.cancels[hash] === round) return true;
  return false;
}
