// Delivering several messages into one mailbox at once (the fetch loop's
// batches). Each message on its own costs the store a serial section of its
// own (entry read, entry write, UID record write, one after the other), and
// every one of those writes is a LevelDB commit that wakes each live changes
// feed. Here the contents are stored concurrently (their writes meet in the
// store's group commit, src/soledad/pouch.ts), and one serial section then
// reads the entries, writes them in one bulkPut and persists their UID
// records in one local write (MailIndex.batch) before announcing them. The
// guarantees are those of DocumentMailStore.deliver, per message: idempotent
// per delivery id, content before entry (a visible entry always has its
// bytes), UIDs in the order of `items`.
import type { DocumentStore } from '../../soledad/types.js';
import type { HybridLogicalClock } from '../../soledad/hlc.js';
import { storeContent, type Analyzer, type StoredContent } from './content.js';
import { DOC, newEntry, type EntryDoc } from './documents.js';
import { deliveryEntryId, entryId } from './ids.js';
import type { MailIndex, MailboxSlot } from './mail-index.js';
import type { SummaryCache } from './summary-cache.js';

export interface DeliveryItem {
  raw: Buffer;
  /** Stable id of this delivery (the incoming document's id): a repeat is a no-op. */
  deliveryId: string;
  internalDate?: number;
  flags?: string[];
}

export interface DeliveredItem {
  uidValidity: number;
  uid: number;
  /** True when this delivery had already been stored (earlier, or by an item before it in the same batch). */
  duplicate: boolean;
}

/** Per item, in the order given: what was stored, or why that item was not. */
export type DeliveryOutcome = DeliveredItem | Error;

/** What batch delivery uses of DocumentMailStore. */
export interface BatchHost {
  docs: DocumentStore;
  index: MailIndex;
  clock: HybridLogicalClock;
  analyzer: Analyzer;
  summaries: SummaryCache;
  /** The live mailbox of that name, or MailStoreError(TRYCREATE). */
  target(mailbox: string): MailboxSlot;
  /** Serialized index work with the UID records written in one batch (DocumentMailStore.serialBatch). */
  serialBatch<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * Stores `items` in `mailbox`. A failure of one item's content (its analysis
 * never fails; a write can) is that item's outcome only. Rejects as a whole
 * when the mailbox is missing or the entries' write fails: the caller then
 * stores the items one by one (each idempotent, so what this call did write
 * is found again, not written twice).
 */
export async function deliverBatch(host: BatchHost, mailbox: string, items: readonly DeliveryItem[]): Promise<DeliveryOutcome[]> {
  const out: Array<DeliveryOutcome | undefined> = new Array(items.length);
  const target = host.target(mailbox);
  // Already here (a retry, or another device stored it and sync brought the
  // entry): the bytes are not stored a second time.
  const todo: number[] = [];
  items.forEach((item, i) => {
    const early = host.index.entries.get(deliveryEntryId(target.id, item.deliveryId));
    if (early) out[i] = { uidValidity: target.uidValidity, uid: early.uid, duplicate: true };
    else todo.push(i);
  });
  // All contents at once: their blob writes go to the store together.
  const contents = new Map<number, StoredContent>();
  const settled = await Promise.allSettled(todo.map((i) => storeContent(host.docs, host.analyzer, items[i]!.raw)));
  settled.forEach((s, k) => {
    const i = todo[k]!;
    if (s.status === 'rejected') {
      out[i] = s.reason instanceof Error ? s.reason : new Error(String(s.reason));
      return;
    }
    contents.set(i, s.value);
    // A message just stored is the next one a client lists (IDLE, then FETCH ENVELOPE).
    if (s.value.structure) host.summaries.put(s.value.hash, s.value.structure, items[i]!.raw);
  });
  if (contents.size > 0) await host.serialBatch(() => writeEntries(host, mailbox, items, contents, out));
  return out.map((o) => o ?? new Error('not delivered'));
}

/** The serial part: entries read and written together, then folded into the index in the order of `items`. */
async function writeEntries(
  host: BatchHost,
  mailbox: string,
  items: readonly DeliveryItem[],
  contents: Map<number, StoredContent>,
  out: Array<DeliveryOutcome | undefined>,
): Promise<void> {
  const slot = host.target(mailbox);
  const fresh: Array<{ i: number; id: string; content: StoredContent }> = [];
  /** Later items of a delivery id already in this batch: they get the first one's UID. */
  const repeats: Array<{ i: number; first: number }> = [];
  const firstOfId = new Map<string, number>();
  for (const [i, content] of [...contents].sort((a, b) => a[0] - b[0])) {
    const deliveryId = items[i]!.deliveryId;
    const id = deliveryEntryId(slot.id, deliveryId);
    // Deliveries stored before ids came from the delivery alone have ids
    // derived from the content too; a retry of one must find it.
    const known = host.index.entries.get(id) ?? host.index.entries.get(entryId(slot.id, content.hash, deliveryId));
    if (known) {
      out[i] = { uidValidity: slot.uidValidity, uid: known.uid, duplicate: true };
      continue;
    }
    const first = firstOfId.get(id);
    if (first !== undefined) {
      repeats.push({ i, first });
      continue;
    }
    firstOfId.set(id, i);
    fresh.push({ i, id, content });
  }
  // Stored by another device and synced, but not in the index yet: kept as is.
  const stored = await Promise.all(fresh.map((f) => host.docs.get<EntryDoc>(DOC.entry, f.id)));
  const docs = fresh.map((f, k) => {
    const item = items[f.i]!;
    return stored[k] ?? newEntry(slot.id, f.content.hash, f.content.size, item.internalDate ?? Date.now(), item.flags ?? [], host.clock.now());
  });
  const writes = fresh.flatMap((f, k) => (stored[k] ? [] : [{ type: DOC.entry, id: f.id, content: docs[k]! }]));
  if (writes.length > 0) await host.docs.bulkPut(writes);
  for (let k = 0; k < fresh.length; k++) {
    const rec = await host.index.applyEntry(fresh[k]!.id, docs[k]!);
    out[fresh[k]!.i] = { uidValidity: slot.uidValidity, uid: rec?.uid ?? 0, duplicate: stored[k] !== null };
  }
  for (const r of repeats) {
    const first = out[r.first];
    out[r.i] = first instanceof Error || !first ? first : { ...first, duplicate: true };
  }
}
