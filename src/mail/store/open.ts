// Opening the mail store: restore the index snapshot (if any) and this
// device's UID state from `local`, replay the document changes feed since the
// snapshot, create the default mailboxes, then follow the feed live so changes
// arriving by sync (another device, the fetch loop) reach the index and the
// subscribers at once. The snapshot is rewritten now and then and on close.
import { randomBytes } from 'node:crypto';
import type { DocChange, DocumentStore } from '../../soledad/types.js';
import { HybridLogicalClock } from '../../soledad/hlc.js';
import type { MailStore } from '../mailstore.js';
import type { Analyzer } from './content.js';
import { defaultAnalyzer } from './analyzer.js';
import { loadDeviceState, localFeedEnd } from './device-state.js';
import { DOC, type EntryDoc, type MailboxDoc } from './documents.js';
import { defaultMailboxId } from './ids.js';
import { MailIndex } from './mail-index.js';
import { DEFAULT_MAILBOXES } from './mailbox-names.js';
import { DocumentMailStore, type DeliverOptions, type DeliverResult } from './mail-store.js';
import type { DeliveryItem, DeliveryOutcome } from './batch-delivery.js';
import { captureSnapshot, persistSnapshot, readSnapshot } from './snapshot.js';
import { SummaryWarmer } from './summary-warmer.js';
import { logger } from '../../util/log.js';

const log = logger('mailstore');

export interface OpenMailStoreOptions {
  /** The synced, encrypted store (Soledad). */
  docs: DocumentStore;
  /** Device-local store, never synced: UIDs, UIDVALIDITY, MODSEQ, the index snapshot. */
  local: DocumentStore;
  /** MIME analyzer; default src/mail/structure. */
  analyzer?: Analyzer;
  /** Rewrite the index snapshot after this many changes from the feed (default 20000). */
  snapshotEvery?: number;
  /** Fill the summary cache in the background (summary-warmer.ts; default true). */
  warmSummaries?: boolean;
  /**
   * Hands back the memory that reading the store left mapped
   * (Soledad.releaseMappedFiles, trying up to `tries` times while the store
   * is busy). A first start reads every entry document: awaited with one
   * try after every `releaseEvery` changes of the replay, so the table
   * files mapped by one stretch of the read leave the RSS before the next is
   * mapped; and once more, not awaited, with 10 tries after a replay of at
   * least LARGE_REPLAY changes.
   */
  releaseMappedFiles?: (tries: number) => Promise<unknown>;
  /** Changes replayed between two releases during the replay (default 20000). */
  releaseEvery?: number;
}

export interface OpenedMailStore extends MailStore {
  /** Stores a message for the fetch loop; idempotent per deliveryId. */
  deliver(mailbox: string, raw: Buffer | AsyncIterable<Buffer>, opts: DeliverOptions): Promise<DeliverResult>;
  /** Stores several messages in one go (the fetch loop's batches): outcomes per item, UIDs in the order given. */
  deliverMany(mailbox: string, items: readonly DeliveryItem[]): Promise<DeliveryOutcome[]>;
  /** Expunges what `deliver` stored under `deliveryId` if it is still in `mailbox`; true when it was. */
  retractDelivery(mailbox: string, deliveryId: string): Promise<boolean>;
  /** Persists the index snapshot now (also done on close). */
  snapshot(): Promise<void>;
  /** Resolves once the background summary warm-up has nothing left to read. */
  summariesWarmed(): Promise<void>;
  /** Stops following the feed, writes the snapshot, waits for pending work. Does not close the document stores. */
  close(): Promise<void>;
}

const DEVICE = { type: 'device', id: 'mailstore' };
/** Changes from the live feed waiting to be applied before the feed is read further. */
const PENDING_MAX = 3000;
/** Changes replayed at open that make it worth releasing what the read left mapped (~10 MB of entry documents). */
const LARGE_REPLAY = 10_000;
/**
 * Changes replayed between releases during the replay. A first build of
 * 100k entries mapped ~110 MB of the store's tables by its end, the largest
 * part of its peak RSS; with a release (13–19 ms each) every 20,000 the peak
 * fell from 348 to 249 MB in the same time (bench/mail-index.ts).
 */
const RELEASE_EVERY = 20_000;

export async function openMailStore(opts: OpenMailStoreOptions): Promise<OpenedMailStore> {
  const started = Date.now();
  const { docs, local } = opts;
  let device = await local.get<{ node: string }>(DEVICE.type, DEVICE.id);
  if (!device) {
    device = { node: randomBytes(6).toString('hex') };
    await local.put(DEVICE.type, DEVICE.id, device);
  }
  const clock = new HybridLogicalClock(device.node);
  let store: DocumentMailStore | undefined;
  const index = new MailIndex(local, (c) => store?.emit(c));
  const snap = await readSnapshot(local, index);
  const state = await loadDeviceState(local, snap?.localSeq);
  index.adopt(state.records, state.states);
  let localSeq = state.localSeq;
  store = new DocumentMailStore(docs, index, opts.analyzer ?? defaultAnalyzer, clock, local);
  const s = store;

  const apply = async (c: DocChange): Promise<void> => {
    if (c.type === DOC.entry) {
      const doc = c.content as EntryDoc | null;
      if (doc) s.observe(doc);
      await index.applyEntry(c.id, doc);
    } else if (c.type === DOC.mailbox) {
      await index.applyMailbox(c.id, c.content as MailboxDoc | null);
    }
  };

  let docsSeq = snap?.docsSeq;
  let replayed = 0;
  // Replayed in batches: the UID records of a batch are written in one bulkPut.
  let chunk: DocChange[] = [];
  const applyChunk = async (): Promise<void> => {
    const todo = chunk;
    chunk = [];
    await index.batch(async () => {
      for (const c of todo) await apply(c);
    });
  };
  // Only entries and mailboxes: Soledad then skips structures and blob
  // metadata (most of a real store) without parsing them.
  const types = [DOC.entry, DOC.mailbox];
  const releaseEvery = opts.releaseEvery ?? RELEASE_EVERY;
  let releasedAt = 0;
  for await (const c of docs.changes({ since: docsSeq, types })) {
    chunk.push(c);
    docsSeq = c.seq;
    replayed++;
    if (chunk.length < 1000) continue;
    await applyChunk();
    if (opts.releaseMappedFiles && replayed - releasedAt >= releaseEvery) {
      releasedAt = replayed;
      // The feed holds no iterator while it hands out a page it has read; a store kept busy by others is left for the next time.
      await opts.releaseMappedFiles(1).catch((err: Error) => log.warn({ err: err.message }, 'releasing memory during the index build failed'));
    }
  }
  await applyChunk();
  index.forgetAssigned();
  for (const m of DEFAULT_MAILBOXES) await s.ensureMailbox(defaultMailboxId(m.name), m.name, m.specialUse);
  log.info(
    { ms: Date.now() - started, entries: index.entries.size, snapshot: snap !== null, replayed },
    'mail index ready',
  );

  if (replayed >= LARGE_REPLAY && opts.releaseMappedFiles) {
    opts.releaseMappedFiles(10).catch((err: Error) => log.warn({ err: err.message }, 'releasing memory after the index build failed'));
  }

  const warmer = new SummaryWarmer(s);
  if (opts.warmSummaries ?? true) warmer.start();

  let sinceSnapshot = snap ? replayed : Infinity;
  const snapshotEvery = opts.snapshotEvery ?? 20_000;
  // Taking a snapshot holds the serial queue only to render the index (and to
  // read the last few local changes); reading most of the local feed and
  // writing the blob happen outside it, so IMAP commands are not held up.
  let snapshotRun: Promise<void> | null = null;
  let modseqAtSnapshot = snap ? index.modseq : -1;
  const takeSnapshot = (): Promise<void> => {
    snapshotRun ??= (async () => {
      try {
        const nearEnd = await localFeedEnd(local, localSeq);
        const captured = await s.serial(async () => {
          const end = await localFeedEnd(local, nearEnd);
          sinceSnapshot = 0;
          modseqAtSnapshot = index.modseq;
          return captureSnapshot(index, docsSeq, end);
        });
        await persistSnapshot(local, captured);
        localSeq = captured.localSeq;
      } finally {
        snapshotRun = null;
      }
    })();
    return snapshotRun;
  };
  const snapshotQuietly = (): void => {
    takeSnapshot().catch((err: Error) => log.warn({ err: err.message }, 'index snapshot failed'));
  };

  // Live: everything after what was replayed, local writes included (folding
  // those in again is a no-op). Changes that pile up while one batch is being
  // applied (a sync burst) are applied together, with one UID-record write.
  // The feed is not read further while PENDING_MAX changes wait (a sync
  // burst): Soledad's change hub then waits for this reader, so a burst is
  // held in neither queue (change-hub.ts).
  const abort = new AbortController();
  const pending: DocChange[] = [];
  let draining = false;
  let room: (() => void) | null = null;
  const wakeFeed = (): void => {
    const r = room;
    room = null;
    r?.();
  };
  const drain = async (): Promise<void> => {
    draining = true;
    try {
      while (pending.length > 0 && !abort.signal.aborted) {
        const todo = pending.splice(0, 1000);
        if (pending.length < PENDING_MAX) wakeFeed();
        await s.serial(() =>
          index.batch(async () => {
            for (const c of todo) {
              await apply(c);
              docsSeq = c.seq;
            }
            sinceSnapshot += todo.length;
          }),
        );
        if (sinceSnapshot >= snapshotEvery) snapshotQuietly();
      }
    } catch (err) {
      log.error({ err: (err as Error).message }, 'applying changes failed');
    } finally {
      draining = false;
      wakeFeed();
    }
  };
  let received = docsSeq;
  const feed = (async () => {
    while (!abort.signal.aborted) {
      try {
        for await (const c of docs.changes({ since: received, live: true, signal: abort.signal, types })) {
          if (abort.signal.aborted) return;
          received = c.seq;
          pending.push(c);
          if (!draining) void drain();
          if (pending.length >= PENDING_MAX && draining) await new Promise<void>((resolve) => (room = resolve));
        }
        return; // the store was closed
      } catch (err) {
        if (abort.signal.aborted) return;
        log.error({ err: (err as Error).message }, 'changes feed failed; following again in 1 s');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  if (sinceSnapshot >= snapshotEvery) snapshotQuietly();

  return Object.assign(s, {
    snapshot: takeSnapshot,
    summariesWarmed: () => warmer.idle(),
    async close(): Promise<void> {
      abort.abort();
      await warmer.stop();
      // Not `await feed`: a store's live iterator may only notice the abort at
      // its next change. Nothing is applied after the abort (checked above).
      void feed;
      await s.serial(async () => undefined);
      await snapshotRun?.catch(() => undefined);
      if (sinceSnapshot > 0 || index.modseq !== modseqAtSnapshot) await takeSnapshot().catch((err: Error) => log.warn({ err: err.message }, 'index snapshot failed'));
      await s.serial(async () => undefined);
      await s.saveSummaries();
    },
  }) as OpenedMailStore;
}
