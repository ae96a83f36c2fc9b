// The in-memory index of every mailbox and entry: what SELECT, STATUS, STORE
// and friends read, and the source of the change events. It folds in entry
// and mailbox documents, from this device's own writes and from the changes
// feed (sync), through the same merge, so a change seen twice or out of order
// is a no-op. UIDs and MODSEQs are assigned here, the first time this device
// sees an entry (or a visible change of it), and persisted in `local` before
// anyone is told (UID never reused: RFC 3501 2.3.1.1; MODSEQ: RFC 7162 3).
import type { DocumentStore } from '../../soledad/types.js';
import type { MailboxChange, MailboxInfo, MessageMeta } from '../mailstore.js';
import { activeFlags, type EntryDoc, type MailboxDoc } from './documents.js';
import { mergeEntry, mergeMailbox } from './merge.js';
import { LOCAL, uidRecordDocs, type MailboxState, type PendingUidRecord, type UidRecord } from './device-state.js';
import { EntryRec } from './index-entry.js';

export { EntryRec };

export interface MailboxSlot {
  id: string;
  /** null until the mailbox document is seen (entries may arrive by sync first). */
  doc: MailboxDoc | null;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  /** UIDs of the live (not expunged) messages, ascending. */
  uids: number[];
  byUid: Map<number, EntryRec>;
}

export class MailIndex {
  readonly mailboxes = new Map<string, MailboxSlot>();
  readonly entries = new Map<string, EntryRec>();
  /** Device-wide MODSEQ counter: per-mailbox HIGHESTMODSEQ is the largest in that mailbox. */
  modseq = 0;
  private maxUidValidity = 0;
  /** Per mailbox, the highest UID and MODSEQ ever assigned here: the floor for UIDNEXT/HIGHESTMODSEQ. */
  private readonly floors = new Map<string, { uid: number; modseq: number }>();

  /** UIDs this device assigned before (from `local`), consumed as entries are seen. */
  private assigned = new Map<string, UidRecord>();
  private states = new Map<string, MailboxState>();

  /** While a batch runs: UID records to persist and changes to announce once they are. */
  private pending: { records: PendingUidRecord[]; changes: MailboxChange[] } | null = null;

  constructor(
    private readonly local: DocumentStore,
    private readonly announce: (change: MailboxChange) => void,
  ) {}

  /**
   * Runs `fn` with UID-record writes collected and written in one bulkPut at
   * the end; the changes are announced only after that (persist, then tell).
   * Callers serialize, so batches never nest.
   */
  async batch<T>(fn: () => Promise<T>): Promise<T> {
    if (this.pending) return fn();
    const pending: NonNullable<MailIndex['pending']> = { records: [], changes: [] };
    this.pending = pending;
    try {
      return await fn();
    } finally {
      this.pending = null;
      if (pending.records.length > 0) await this.local.bulkPut(uidRecordDocs(pending.records));
      for (const c of pending.changes) this.announce(c);
    }
  }

  private emit(change: MailboxChange): void {
    if (this.pending) this.pending.changes.push(change);
    else this.announce(change);
  }

  /**
   * Takes in this device's persisted UID records and mailbox states (all of
   * them, or those written after the snapshot already restored into the index):
   * they set the floors of UIDNEXT, HIGHESTMODSEQ, MODSEQ and UIDVALIDITY.
   */
  adopt(records: Map<string, UidRecord>, states: Map<string, MailboxState>): void {
    this.assigned = records;
    this.states = states;
    for (const slot of this.mailboxes.values()) {
      if (!states.has(slot.id)) states.set(slot.id, { uidValidity: slot.uidValidity });
    }
    for (const s of states.values()) if (s.uidValidity > this.maxUidValidity) this.maxUidValidity = s.uidValidity;
    for (const r of records.values()) {
      if (r.s > this.modseq) this.modseq = r.s;
      const f = this.floors.get(r.m);
      if (!f) this.floors.set(r.m, { uid: r.u, modseq: r.s });
      else {
        if (r.u > f.uid) f.uid = r.u;
        if (r.s > f.modseq) f.modseq = r.s;
      }
    }
    for (const slot of this.mailboxes.values()) {
      const f = this.floors.get(slot.id);
      if (f && f.uid >= slot.uidNext) slot.uidNext = f.uid + 1;
      if (f && f.modseq > slot.highestModseq) slot.highestModseq = f.modseq;
    }
  }

  /** Frees the UID records of entries that were not seen again (their floors stay). */
  forgetAssigned(): void {
    this.assigned = new Map();
  }

  // --- lookups -------------------------------------------------------------

  /**
   * Live mailboxes (document seen, not deleted), one per name: two devices
   * that each created the same name offline have two documents; the lowest id
   * is the one shown (and byName finds), deterministically on every device.
   */
  liveMailboxes(): MailboxSlot[] {
    const byName = new Map<string, MailboxSlot>();
    for (const s of this.mailboxes.values()) {
      if (s.doc === null || s.doc.deleted !== null) continue;
      const other = byName.get(s.doc.name);
      if (!other || s.id < other.id) byName.set(s.doc.name, s);
    }
    return [...byName.values()];
  }

  /** The live mailbox with this (normalized) name; on a name clash the lowest id wins. */
  byName(name: string): MailboxSlot | undefined {
    let found: MailboxSlot | undefined;
    for (const s of this.mailboxes.values()) {
      if (s.doc && s.doc.deleted === null && s.doc.name === name && (!found || s.id < found.id)) found = s;
    }
    return found;
  }

  info(slot: MailboxSlot): MailboxInfo {
    const doc = slot.doc!;
    return {
      id: slot.id,
      name: doc.name,
      specialUse: doc.specialUse,
      subscribed: doc.subscribed,
      uidValidity: slot.uidValidity,
      uidNext: slot.uidNext,
      // RFC 7162 3.1.2.1: HIGHESTMODSEQ is at least 1.
      highestModseq: Math.max(1, slot.highestModseq),
    };
  }

  static meta(rec: EntryRec): MessageMeta {
    return {
      uid: rec.uid,
      hash: rec.hash,
      flags: [...rec.flags],
      modseq: rec.modseq,
      internalDate: rec.internalDate,
      size: rec.size,
    };
  }

  // --- folding in documents (callers serialize) ----------------------------

  async applyMailbox(id: string, incoming: MailboxDoc | null): Promise<void> {
    const slot = await this.slot(id);
    let merged: MailboxDoc | null;
    if (incoming === null) merged = slot.doc ? { ...slot.doc, deleted: slot.doc.deleted ?? '0' } : null;
    else merged = slot.doc ? mergeMailbox(slot.doc, incoming) : incoming;
    if (JSON.stringify(merged) === JSON.stringify(slot.doc)) return;
    slot.doc = merged;
    this.emit({ kind: 'mailboxes' });
  }

  /** Folds an entry document in; returns its record (null if it was never shown here and is gone). */
  async applyEntry(id: string, incoming: EntryDoc | null): Promise<EntryRec | null> {
    const rec = this.entries.get(id);
    if (!rec) return incoming ? this.firstSight(id, incoming) : null;
    const wasExpunged = rec.expunged !== null;
    const before = rec.doc;
    const merged = mergeEntry(before, incoming ?? { ...before, expunged: '0' });
    rec.doc = merged;
    if (rec.uid === 0 || wasExpunged) return rec;
    const slot = await this.slot(rec.mailbox);
    if (rec.expunged !== null) {
      removeSorted(slot.uids, rec.uid);
      slot.byUid.delete(rec.uid);
      await this.bump(slot, rec);
      this.emit({ kind: 'expunge', mailboxId: slot.id, uid: rec.uid, modseq: rec.modseq });
      return rec;
    }
    const flags = activeFlags(merged);
    if (merged.hash !== before.hash) return this.renumber(slot, rec, flags);
    if (flags.join(' ') === rec.flags.join(' ')) return rec;
    rec.flags = flags;
    await this.bump(slot, rec);
    this.emit({ kind: 'flags', mailboxId: slot.id, message: MailIndex.meta(rec) });
    return rec;
  }

  /**
   * A shown message whose content changed: two devices stored one delivery
   * with different bytes and the merge settled on the other device's. A UID
   * names one message for good (RFC 3501 2.3.1.1), and clients cache bytes
   * by UID: the message shown goes away and the settled content comes in
   * under a new UID.
   */
  private async renumber(slot: MailboxSlot, rec: EntryRec, flags: readonly string[]): Promise<EntryRec> {
    const gone = rec.uid;
    removeSorted(slot.uids, gone);
    slot.byUid.delete(gone);
    rec.uid = slot.uidNext++;
    rec.flags = flags;
    insertSorted(slot.uids, rec.uid);
    slot.byUid.set(rec.uid, rec);
    // One UID record for the entry (its new UID); the old UID stays below UIDNEXT, so it is never given again.
    await this.bump(slot, rec);
    this.emit({ kind: 'expunge', mailboxId: slot.id, uid: gone, modseq: rec.modseq });
    this.emit({ kind: 'exists', mailboxId: slot.id, message: MailIndex.meta(rec) });
    return rec;
  }

  private async firstSight(id: string, doc: EntryDoc): Promise<EntryRec> {
    const slot = await this.slot(doc.mailbox);
    const flags = activeFlags(doc);
    const expunged = doc.expunged !== null;
    const before = this.assigned.get(id);
    if (before) {
      this.assigned.delete(id);
      const rec = new EntryRec(id, doc, flags);
      rec.uid = before.u;
      rec.modseq = before.s;
      this.entries.set(id, rec);
      if (before.u >= slot.uidNext) slot.uidNext = before.u + 1;
      if (before.s > slot.highestModseq) slot.highestModseq = before.s;
      if (before.x === 1) return rec;
      // Changed while this device was not looking (e.g. synced before the index opened).
      if (expunged || before.f !== flags.join(' ')) await this.bump(slot, rec);
      if (!expunged) {
        insertSorted(slot.uids, rec.uid);
        slot.byUid.set(rec.uid, rec);
      }
      return rec;
    }
    const rec = new EntryRec(id, doc, flags);
    this.entries.set(id, rec);
    if (expunged) return rec; // never shown here: nothing to announce, no UID spent
    rec.uid = slot.uidNext++;
    insertSorted(slot.uids, rec.uid);
    slot.byUid.set(rec.uid, rec);
    await this.bump(slot, rec, true);
    this.emit({ kind: 'exists', mailboxId: slot.id, message: MailIndex.meta(rec) });
    return rec;
  }

  /** New MODSEQ for a visible change, persisted before the change is announced; `fresh`: the entry's first record. */
  private async bump(slot: MailboxSlot, rec: EntryRec, fresh = false): Promise<void> {
    rec.modseq = ++this.modseq;
    slot.highestModseq = rec.modseq;
    const record: UidRecord = {
      m: slot.id,
      u: rec.uid,
      s: rec.modseq,
      f: rec.flags.join(' '),
      x: rec.expunged !== null ? 1 : 0,
    };
    if (this.pending) this.pending.records.push({ id: rec.id, record, fresh });
    else await this.local.put(LOCAL.uid, rec.id, record);
  }

  /** The slot of a mailbox id, created with a fresh persisted UIDVALIDITY the first time. */
  async slot(id: string): Promise<MailboxSlot> {
    let slot = this.mailboxes.get(id);
    if (slot) return slot;
    let state = this.states.get(id);
    if (!state) {
      // Seconds since the epoch, but strictly above any UIDVALIDITY this device
      // gave before, so a mailbox deleted and re-created gets a new one.
      state = { uidValidity: Math.max(Math.floor(Date.now() / 1000), this.maxUidValidity + 1) };
      this.states.set(id, state);
      await this.local.put(LOCAL.mailboxState, id, state);
    }
    if (state.uidValidity > this.maxUidValidity) this.maxUidValidity = state.uidValidity;
    slot = this.mailboxes.get(id); // another caller may have created it meanwhile
    if (slot) return slot;
    const floor = this.floors.get(id);
    slot = {
      id,
      doc: null,
      uidValidity: state.uidValidity,
      uidNext: (floor?.uid ?? 0) + 1,
      highestModseq: floor?.modseq ?? 0,
      uids: [],
      byUid: new Map(),
    };
    this.mailboxes.set(id, slot);
    return slot;
  }
}

function search(arr: number[], v: number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(arr: number[], v: number): void {
  if (arr.length === 0 || arr[arr.length - 1] < v) {
    arr.push(v);
    return;
  }
  const i = search(arr, v);
  if (arr[i] !== v) arr.splice(i, 0, v);
}

function removeSorted(arr: number[], v: number): void {
  const i = search(arr, v);
  if (arr[i] === v) arr.splice(i, 1);
}
