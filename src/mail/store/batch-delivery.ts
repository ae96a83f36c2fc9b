// Delivering messages into a mailbox: one (DocumentMailStore.deliver: the
// fetch loop's single stores, IMAP APPEND, a streamed source included) or
// several at once (deliverMany: the fetch loop's batches). Both take the same
// steps, so the rules of an entry live here once:
// 1. a delivery already in the index is answered without storing anything;
// 2. the content is stored (storeContent), before any entry refers to it: a
//    visible entry always has its bytes;
// 3. one serial section (writeEntries) finds deliveries stored meanwhile or
//    under an older id, reads the entries another device may have written,
//    writes the new ones in one bulkPut and folds them into the index, with
//    their UID records persisted in one local write (MailIndex.batch) before
//    they are announced, UIDs in the order given.
// In a batch the contents are stored concurrently (their writes meet in the
// store's group commit, src/soledad/pouch.ts) and the serial section is
// shared: each message on its own costs an entry read, an entry write and a
// UID record write one after the other, each a LevelDB commit that wakes
// every live changes feed. Per delivery id a repeat is a no-op.
import type { DocumentStore } from '../../soledad/types.js';
import type { HybridLogicalClock } from '../../soledad/hlc.js';
import { storeContent, type Analyzer, type StoredContent } from './content.js';
import { DOC, newEntry, type EntryDoc } from './documents.js';
import { deliveryEntryId, entryId } from './ids.js';
import type { MailIndex, MailboxSlot } from './mail-index.js';
import type { SummaryCache } from './summary-cache.js';

/** What an entry is made of besides its content. */
export interface DeliveryFields {
  /** Stable id of this delivery (the incoming document's id): a repeat is a no-op. */
  deliveryId: string;
  internalDate?: number;
  flags?: string[];
}

export interface DeliveryItem extends DeliveryFields {
  raw: Buffer;
}

export interface DeliveredItem {
  uidValidity: number;
  uid: number;
  /** True when this delivery had already been stored (earlier, or by an item before it in the same batch). */
  duplicate: boolean;
}

/** Per item, in the order given: what was stored, or why that item was not. */
export type DeliveryOutcome = DeliveredItem | Error;

/** What delivery uses of DocumentMailStore. */
export interface DeliveryHost {
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

/** A delivery whose content is stored: its entry comes next. `at` is its place in the outcomes. */
interface StoredDelivery {
  at: number;
  fields: DeliveryFields;
  content: StoredContent;
}

/**
 * Stores one message (a Buffer, or a stream: over 1 MiB it is spooled, never
 * held in memory). Rejects when the mailbox is missing (TRYCREATE, checked
 * before the source is read) or a write fails.
 */
export async function deliverOne(
  host: DeliveryHost,
  mailbox: string,
  source: AsyncIterable<Buffer> | Buffer,
  fields: DeliveryFields,
): Promise<DeliveredItem> {
  const early = alreadyHere(host, host.target(mailbox), fields.deliveryId);
  if (early) return early;
  const content = await storeContent(host.docs, host.analyzer, source);
  remember(host, content, Buffer.isBuffer(source) ? source : undefined);
  const out: Array<DeliveryOutcome | undefined> = [undefined];
  await host.serialBatch(() => writeEntries(host, mailbox, [{ at: 0, fields, content }], out));
  return out[0] as DeliveredItem;
}

/**
 * Stores `items` in `mailbox`. A failure of one item's content (its analysis
 * never fails; a write can) is that item's outcome only. Rejects as a whole
 * when the mailbox is missing or the entries' write fails: the caller then
 * stores the items one by one (each idempotent, so what this call did write
 * is found again, not written twice).
 */
export async function deliverBatch(host: DeliveryHost, mailbox: string, items: readonly DeliveryItem[]): Promise<DeliveryOutcome[]> {
  const out: Array<DeliveryOutcome | undefined> = new Array(items.length);
  const target = host.target(mailbox);
  const todo: number[] = [];
  items.forEach((item, i) => {
    const early = alreadyHere(host, target, item.deliveryId);
    if (early) out[i] = early;
    else todo.push(i);
  });
  // All contents at once: their blob writes go to the store together.
  const stored: StoredDelivery[] = [];
  const settled = await Promise.allSettled(todo.map((i) => storeContent(host.docs, host.analyzer, items[i]!.raw)));
  settled.forEach((s, k) => {
    const i = todo[k]!;
    if (s.status === 'rejected') {
      out[i] = s.reason instanceof Error ? s.reason : new Error(String(s.reason));
      return;
    }
    stored.push({ at: i, fields: items[i]!, content: s.value });
    remember(host, s.value, items[i]!.raw);
  });
  if (stored.length > 0) await host.serialBatch(() => writeEntries(host, mailbox, stored, out));
  return out.map((o) => o ?? new Error('not delivered'));
}

/** Already here (a retry, or another device stored it and sync brought the entry): the bytes are not stored a second time. */
function alreadyHere(host: DeliveryHost, target: MailboxSlot, deliveryId: string): DeliveredItem | null {
  const known = host.index.entries.get(deliveryEntryId(target.id, deliveryId));
  return known ? { uidValidity: target.uidValidity, uid: known.uid, duplicate: true } : null;
}

/** A message just stored is the next one a client lists (IDLE, then FETCH ENVELOPE). */
function remember(host: DeliveryHost, content: StoredContent, raw: Buffer | undefined): void {
  if (content.structure) host.summaries.put(content.hash, content.structure, raw);
}

/** The serial part: entries read and written together, then folded into the index in the order of `at`. */
async function writeEntries(
  host: DeliveryHost,
  mailbox: string,
  deliveries: readonly StoredDelivery[],
  out: Array<DeliveryOutcome | undefined>,
): Promise<void> {
  const slot = host.target(mailbox);
  const fresh: Array<StoredDelivery & { id: string }> = [];
  /** Later deliveries of an id already in this batch: they get the first one's UID. */
  const repeats: Array<{ at: number; first: number }> = [];
  const firstOfId = new Map<string, number>();
  for (const d of [...deliveries].sort((a, b) => a.at - b.at)) {
    const { deliveryId } = d.fields;
    const id = deliveryEntryId(slot.id, deliveryId);
    // Deliveries stored before ids came from the delivery alone have ids
    // derived from the content too; a retry of one must find it.
    const known = host.index.entries.get(id) ?? host.index.entries.get(entryId(slot.id, d.content.hash, deliveryId));
    if (known) {
      out[d.at] = { uidValidity: slot.uidValidity, uid: known.uid, duplicate: true };
      continue;
    }
    const first = firstOfId.get(id);
    if (first !== undefined) {
      repeats.push({ at: d.at, first });
      continue;
    }
    firstOfId.set(id, d.at);
    fresh.push({ ...d, id });
  }
  // Stored by another device and synced, but not in the index yet: kept as is.
  const stored = await Promise.all(fresh.map((f) => host.docs.get<EntryDoc>(DOC.entry, f.id)));
  const docs = fresh.map((f, k) => {
    const { internalDate, flags } = f.fields;
    return stored[k] ?? newEntry(slot.id, f.content.hash, f.content.size, internalDate ?? Date.now(), flags ?? [], host.clock.now());
  });
  const writes = fresh.flatMap((f, k) => (stored[k] ? [] : [{ type: DOC.entry, id: f.id, content: docs[k]! }]));
  if (writes.length > 0) await host.docs.bulkPut(writes);
  for (let k = 0; k < fresh.length; k++) {
    const rec = await host.index.applyEntry(fresh[k]!.id, docs[k]!);
    out[fresh[k]!.at] = { uidValidity: slot.uidValidity, uid: rec?.uid ?? 0, duplicate: stored[k] !== null };
  }
  for (const r of repeats) {
    const first = out[r.first];
    out[r.at] = first instanceof Error || !first ? first : { ...first, duplicate: true };
  }
}
