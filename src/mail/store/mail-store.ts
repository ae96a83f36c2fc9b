// The MailStore over a DocumentStore (Soledad): intent-level operations that
// write mail documents and fold them into the in-memory index. Every write
// stores the document merged with what the index knows, so a plain put never
// undoes a change that arrived by sync. Index-changing work runs one at a
// time (the `serial` queue), so UIDs are handed out and announced in order.
// The entry write paths (flags, copy, move, expunge) are in entry-writes.ts.
import type { Readable } from 'node:stream';
import type { DocumentStore } from '../../soledad/types.js';
import {
  MailStoreError,
  type AppendOptions,
  type AppendResult,
  type CopyResult,
  type FlagOperation,
  type MailboxChange,
  type MailboxInfo,
  type MailboxStatus,
  type MailStore,
  type MessageMeta,
  type SpecialUse,
  type StoreResult,
} from '../mailstore.js';
import type { MessageStructure } from '../structure/types.js';
import type { HybridLogicalClock } from '../../soledad/hlc.js';
import { readStructure, upgradeStructure, type Analyzer } from './content.js';
import { readStoredContent } from './blob-gc-docs.js';
import { DOC, newMailbox, type EntryDoc, type MailboxDoc } from './documents.js';
import { mergeEntry, mergeMailbox } from './merge.js';
import { deliveryEntryId, randomId } from './ids.js';
import { MailIndex, type EntryRec, type MailboxSlot } from './mail-index.js';
import { SummaryCache } from './summary-cache.js';
import { checkNewName, compareNames, isInferior, normalizeName, parentNames } from './mailbox-names.js';
import { changeFlags, copyEntries, expungeEntries, moveEntries, type EntryWriter } from './entry-writes.js';
import {
  deliverBatch,
  deliverOne,
  type DeliveredItem,
  type DeliveryFields,
  type DeliveryHost,
  type DeliveryItem,
  type DeliveryOutcome,
} from './batch-delivery.js';
import { logger } from '../../util/log.js';

const log = logger('mailstore');
const STRUCTURE_CACHE = 2000;

/** What deliver stores besides the content: the delivery's id (a repeat is a no-op), flags, date. */
export type DeliverOptions = DeliveryFields;

/** Where the message is, and whether this delivery had already been stored. */
export type DeliverResult = DeliveredItem;

export class DocumentMailStore implements MailStore {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(change: MailboxChange) => void>();
  /** Structures are immutable: a small LRU spares FETCH 1:* BODYSTRUCTURE a decrypt per message. */
  private readonly structures = new Map<string, MessageStructure>();
  /** Structure reads in progress: a FETCH and the summary warm-up reading one share the read. */
  private readonly reading = new Map<string, Promise<MessageStructure>>();
  /** What listings and header searches need, by content hash (see summary-cache.ts). */
  readonly summaries = new SummaryCache();
  /** Highest stamp observed from other writers (to skip needless clock updates). */
  private maxSeen = '';
  /** What the entry write paths (entry-writes.ts) use of this store. */
  private readonly entries: EntryWriter;
  /** What delivery (batch-delivery.ts: deliver, deliverMany) uses of this store. */
  private readonly delivery: DeliveryHost;

  constructor(
    readonly docs: DocumentStore,
    readonly index: MailIndex,
    private readonly analyzer: Analyzer,
    readonly clock: HybridLogicalClock,
    /** Device-local store: the summaries are kept there across restarts. */
    private readonly local?: DocumentStore,
  ) {
    this.entries = { docs, index, clock, current: (rec) => this.current(rec) };
    this.delivery = {
      docs,
      index,
      clock,
      analyzer,
      summaries: this.summaries,
      target: (name) => this.slot(name, 'TRYCREATE'),
      serialBatch: (fn) => this.serialBatch(fn),
    };
    if (local) this.summaries.persistIn(local, analyzer.version ?? 0);
  }

  /** Persists the summary cache (on close); a failure only costs structure reads after the next start. */
  async saveSummaries(): Promise<void> {
    if (!this.local) return;
    await this.summaries.save(this.local, this.analyzer.version ?? 0).catch((err: Error) => log.warn({ err: err.message }, 'summaries not saved'));
  }

  /** Runs index-changing work one at a time, in call order. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Serialized, with the UID records of all messages touched written in one batch. */
  private serialBatch<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial(() => this.index.batch(fn));
  }

  emit(change: MailboxChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        log.error({ err: (err as Error).message, kind: change.kind }, 'change listener failed');
      }
    }
  }

  subscribe(listener: (change: MailboxChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // --- mailboxes -----------------------------------------------------------

  async listMailboxes(): Promise<MailboxInfo[]> {
    return this.index
      .liveMailboxes()
      .map((s) => this.index.info(s))
      .sort((a, b) => compareNames(a.name, b.name));
  }

  async status(mailbox: string): Promise<MailboxStatus> {
    const slot = this.slot(mailbox);
    let unseen = 0;
    let size = 0;
    for (const rec of slot.byUid.values()) {
      if (!rec.flags.includes('\\Seen')) unseen++;
      size += rec.size;
    }
    return { ...this.index.info(slot), messages: slot.uids.length, unseen, size };
  }

  createMailbox(name: string, opts: { specialUse?: SpecialUse } = {}): Promise<MailboxInfo> {
    return this.serial(async () => {
      const n = normalizeName(name);
      checkNewName(n);
      if (this.index.byName(n)) throw new MailStoreError('ALREADYEXISTS', 'Mailbox already exists');
      // RFC 3501 6.3.3: create the superior hierarchy as needed.
      for (const parent of parentNames(n)) {
        if (!this.index.byName(parent)) await this.writeMailbox(randomId(), newMailbox(parent, null, this.clock.now(), Date.now()));
      }
      const slot = await this.writeMailbox(randomId(), newMailbox(n, opts.specialUse ?? null, this.clock.now(), Date.now()));
      return this.index.info(slot);
    });
  }

  /** Creates a mailbox with a fixed id unless that id or the name is already known. */
  ensureMailbox(id: string, name: string, specialUse: SpecialUse | null): Promise<void> {
    return this.serial(async () => {
      if (this.index.mailboxes.get(id)?.doc || this.index.byName(name)) return;
      await this.writeMailbox(id, newMailbox(name, specialUse, this.clock.now(), Date.now()));
    });
  }

  deleteMailbox(name: string): Promise<void> {
    return this.serialBatch(async () => {
      const slot = this.slot(name);
      if (slot.doc!.name === 'INBOX') throw new MailStoreError('CANNOT', 'INBOX cannot be deleted');
      await expungeEntries(this.entries, slot, [...slot.uids]);
      await this.writeMailbox(slot.id, { ...slot.doc!, deleted: this.clock.now() });
    });
  }

  renameMailbox(from: string, to: string): Promise<void> {
    return this.serialBatch(async () => {
      const src = this.slot(from);
      const f = src.doc!.name;
      const t = normalizeName(to);
      checkNewName(t);
      if (this.index.byName(t)) throw new MailStoreError('ALREADYEXISTS', 'Target mailbox already exists');
      if (isInferior(t, f)) throw new MailStoreError('CANNOT', 'Cannot move a mailbox into itself');
      for (const parent of parentNames(t)) {
        if (!this.index.byName(parent)) await this.writeMailbox(randomId(), newMailbox(parent, null, this.clock.now(), Date.now()));
      }
      if (f === 'INBOX') {
        // RFC 3501 6.3.5: INBOX's messages move to the new mailbox; INBOX stays, empty; its inferiors are unaffected.
        const dst = await this.writeMailbox(randomId(), newMailbox(t, null, this.clock.now(), Date.now()));
        const uids = [...src.uids];
        await copyEntries(this.entries, src, uids, dst);
        await expungeEntries(this.entries, src, uids);
        return;
      }
      const at = this.clock.now();
      for (const slot of this.index.liveMailboxes()) {
        const name = slot.doc!.name;
        if (name !== f && !isInferior(name, f)) continue;
        await this.writeMailbox(slot.id, { ...slot.doc!, name: t + name.slice(f.length), nameAt: at });
      }
    });
  }

  setSubscribed(name: string, subscribed: boolean): Promise<void> {
    return this.serial(async () => {
      const slot = this.index.byName(normalizeName(name));
      if (!slot) {
        // UNSUBSCRIBE of a name that no longer exists succeeds (RFC 3501 6.3.7).
        if (!subscribed) return;
        throw new MailStoreError('NONEXISTENT', 'No such mailbox');
      }
      if (slot.doc!.subscribed === subscribed) return;
      await this.writeMailbox(slot.id, { ...slot.doc!, subscribed, subscribedAt: this.clock.now() });
    });
  }

  // --- messages ------------------------------------------------------------

  async messages(mailbox: string): Promise<{ info: MailboxInfo; messages: MessageMeta[] }> {
    const slot = this.slot(mailbox);
    return { info: this.index.info(slot), messages: slot.uids.map((u) => MailIndex.meta(slot.byUid.get(u)!)) };
  }

  async append(mailbox: string, source: AsyncIterable<Buffer> | Buffer, opts: AppendOptions = {}): Promise<AppendResult> {
    const r = await this.deliver(mailbox, source, { ...opts, deliveryId: randomId() });
    return { uidValidity: r.uidValidity, uid: r.uid };
  }

  /** Stores a message for the fetch loop: idempotent per deliveryId (same id → same single entry). */
  deliver(mailbox: string, source: AsyncIterable<Buffer> | Buffer, opts: DeliverOptions): Promise<DeliverResult> {
    // APPEND to a missing mailbox: NO [TRYCREATE] (RFC 3501 6.3.11); checked before reading the source.
    return deliverOne(this.delivery, mailbox, source, opts);
  }

  /**
   * Stores several messages in one go (the fetch loop's batches; see
   * batch-delivery.ts): per item the guarantees of deliver, far fewer
   * commits. Outcomes in the order of `items`, which is also their UID order.
   */
  deliverMany(mailbox: string, items: readonly DeliveryItem[]): Promise<DeliveryOutcome[]> {
    return deliverBatch(this.delivery, mailbox, items);
  }

  /**
   * Expunges what `deliver` stored under `deliveryId` in `mailbox`, if it is
   * still there (the fetch loop's notice about a message it could not
   * decrypt, once that message has arrived). True when something was removed.
   */
  async retractDelivery(mailbox: string, deliveryId: string): Promise<boolean> {
    const id = deliveryEntryId(this.slot(mailbox).id, deliveryId);
    if (!this.index.entries.has(id)) return false; // the common case, without queueing
    return this.serialBatch(async () => {
      const slot = this.slot(mailbox);
      const rec = this.index.entries.get(id);
      if (!rec || slot.byUid.get(rec.uid) !== rec) return false;
      return (await expungeEntries(this.entries, slot, [rec.uid])).length > 0;
    });
  }

  storeFlags(
    mailbox: string,
    uids: number[],
    op: FlagOperation,
    flags: string[],
    opts: { unchangedSince?: number } = {},
  ): Promise<StoreResult> {
    return this.serialBatch(async () => changeFlags(this.entries, this.slot(mailbox), uids, op, flags, opts.unchangedSince));
  }

  copy(from: string, uids: number[], to: string): Promise<CopyResult> {
    return this.serialBatch(async () => copyEntries(this.entries, this.slot(from), uids, this.slot(to, 'TRYCREATE')));
  }

  move(from: string, uids: number[], to: string): Promise<CopyResult> {
    return this.serialBatch(async () => moveEntries(this.entries, this.slot(from), uids, this.slot(to, 'TRYCREATE')));
  }

  expunge(mailbox: string, uids: number[]): Promise<number[]> {
    return this.serialBatch(async () => expungeEntries(this.entries, this.slot(mailbox), uids));
  }

  // --- content -------------------------------------------------------------

  async structure(hash: string): Promise<MessageStructure> {
    const cached = this.structures.get(hash);
    if (cached) {
      // Map order is insertion order: re-insert to mark as recently used.
      this.structures.delete(hash);
      this.structures.set(hash, cached);
      return cached;
    }
    const s = await this.readStructure(hash);
    this.structures.set(hash, s);
    if (this.structures.size > STRUCTURE_CACHE) this.structures.delete(this.structures.keys().next().value!);
    return s;
  }

  /** Reads a structure document (not kept in the LRU: the summary warm-up reads them all); concurrent reads of one hash share one. */
  readStructure(hash: string): Promise<MessageStructure> {
    let reading = this.reading.get(hash);
    if (!reading) {
      reading = (async () => {
        const stored = await readStructure(this.docs, hash, this.analyzer.version);
        if (!stored) throw new MailStoreError('NONEXISTENT', 'No such message content');
        return upgradeStructure(this.docs, this.analyzer, hash, stored);
      })().finally(() => this.reading.delete(hash));
      this.reading.set(hash, reading);
    }
    return reading;
  }

  /** The first `size` bytes of a message (its header, for the summary's listing lines). */
  async readHeader(hash: string, size: number): Promise<Buffer> {
    if (size === 0) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    for await (const chunk of this.read(hash, 0, size)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  read(hash: string, start?: number, end?: number): Readable {
    return readStoredContent(this.docs, hash, start, end);
  }

  // --- internals -----------------------------------------------------------

  /** The live mailbox of that name, or the error IMAP expects. */
  private slot(name: string, missing: 'NONEXISTENT' | 'TRYCREATE' = 'NONEXISTENT'): MailboxSlot {
    const slot = this.index.byName(normalizeName(name));
    if (!slot) throw new MailStoreError(missing, 'No such mailbox');
    return slot;
  }

  /**
   * The entry as stored now, merged with what the index holds. A change that
   * reached the store by sync but not yet the index is kept instead of being
   * overwritten by a write based on the index alone.
   */
  private async current(rec: EntryRec): Promise<EntryDoc> {
    const stored = await this.docs.get<EntryDoc>(DOC.entry, rec.id);
    if (!stored) return rec.doc;
    this.observe(stored);
    return mergeEntry(rec.doc, stored);
  }

  /** Moves the clock past every stamp of a document written elsewhere (HLC receive). */
  observe(doc: EntryDoc): void {
    for (const f of Object.values(doc.flags)) this.observeStamp(f[1]);
    this.observeStamp(doc.expunged);
  }

  private observeStamp(stamp: string | null): void {
    if (stamp === null || stamp <= this.maxSeen || stamp.length < 21) return;
    this.maxSeen = stamp;
    try {
      this.clock.update(stamp);
    } catch {
      // not an HLC stamp: the merge still orders it; the clock ignores it
    }
  }

  private async writeMailbox(id: string, mine: MailboxDoc): Promise<MailboxSlot> {
    const stored = await this.docs.get<MailboxDoc>(DOC.mailbox, id);
    const doc = stored ? mergeMailbox(stored, mine) : mine;
    await this.docs.put(DOC.mailbox, id, doc);
    await this.index.applyMailbox(id, doc);
    return this.index.mailboxes.get(id)!;
  }
}
