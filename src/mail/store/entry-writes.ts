// The entry write paths of DocumentMailStore: flag changes, copy, move and
// expunge over the messages of one mailbox. Each writes its entry documents in
// one batch, then folds them into the index; the caller runs it inside the
// store's serial queue (see mail-store.ts), so UIDs are handed out in order.
import type { DocumentStore } from '../../soledad/types.js';
import type { HybridLogicalClock } from '../../soledad/hlc.js';
import type { CopyResult, FlagOperation, MessageMeta, StoreResult } from '../mailstore.js';
import { DOC, activeFlags, canonicalFlags, newEntry, withFlags, type EntryDoc } from './documents.js';
import { entryId, randomId } from './ids.js';
import { MailIndex, type EntryRec, type MailboxSlot } from './mail-index.js';

/** What the write paths need of the store. */
export interface EntryWriter {
  docs: DocumentStore;
  index: MailIndex;
  clock: HybridLogicalClock;
  /** The entry as stored now, merged with what the index holds (see DocumentMailStore.current). */
  current(rec: EntryRec): Promise<EntryDoc>;
}

/** Records of the given UIDs that exist in the mailbox, ascending, without duplicates. */
export function selectRecs(slot: MailboxSlot, uids: number[]): EntryRec[] {
  const out: EntryRec[] = [];
  for (const uid of [...new Set(uids)].sort((a, b) => a - b)) {
    const rec = slot.byUid.get(uid);
    if (rec) out.push(rec);
  }
  return out;
}

export async function changeFlags(
  w: EntryWriter,
  slot: MailboxSlot,
  uids: number[],
  op: FlagOperation,
  flags: string[],
  unchangedSince: number | undefined,
): Promise<StoreResult> {
  const given = canonicalFlags(flags);
  const modified: number[] = [];
  const todo: Array<{ rec: EntryRec; base: EntryDoc }> = [];
  for (const rec of selectRecs(slot, uids)) {
    // RFC 7162 3.1.3: leave messages changed since UNCHANGEDSINCE alone and report them.
    if (unchangedSince !== undefined && rec.modseq > unchangedSince) modified.push(rec.uid);
    else todo.push({ rec, base: await w.current(rec) });
  }
  const at = w.clock.now();
  const changes: Array<{ rec: EntryRec; doc: EntryDoc }> = [];
  for (const { rec, base } of todo) {
    const now = activeFlags(base);
    const next = new Set(op === 'set' ? given : now);
    if (op === 'add') for (const f of given) next.add(f);
    if (op === 'remove') for (const f of given) next.delete(f);
    if (next.size === now.length && now.every((f) => next.has(f))) continue;
    changes.push({ rec, doc: withFlags(base, [...next], at) });
  }
  await w.docs.bulkPut(changes.map((c) => ({ type: DOC.entry, id: c.rec.id, content: c.doc })));
  const updated: MessageMeta[] = [];
  for (const c of changes) {
    const rec = await w.index.applyEntry(c.rec.id, c.doc);
    if (rec) updated.push(MailIndex.meta(rec));
  }
  return { updated, modified };
}

/**
 * Copies to `dst` and expunges the originals in one write, each copy next to
 * its original (the store's write batches split between pairs): a crash
 * leaves a message moved or not moved, never in both mailboxes.
 */
export async function moveEntries(w: EntryWriter, src: MailboxSlot, uids: number[], dst: MailboxSlot): Promise<CopyResult> {
  const at = w.clock.now();
  const pairs: Array<{ rec: EntryRec; copyId: string; copy: EntryDoc; gone: EntryDoc }> = [];
  for (const rec of selectRecs(src, uids)) {
    const base = await w.current(rec);
    pairs.push({
      rec,
      copyId: entryId(dst.id, rec.hash, randomId()),
      copy: newEntry(dst.id, rec.hash, rec.size, rec.internalDate, rec.flags, at),
      gone: { ...base, expunged: base.expunged ?? at },
    });
  }
  await w.docs.bulkPut(pairs.flatMap((p) => [
    { type: DOC.entry, id: p.copyId, content: p.copy },
    { type: DOC.entry, id: p.rec.id, content: p.gone },
  ]));
  const mapping: Array<[number, number]> = [];
  for (const p of pairs) {
    const rec = await w.index.applyEntry(p.copyId, p.copy);
    if (rec) mapping.push([p.rec.uid, rec.uid]);
  }
  for (const p of pairs) await w.index.applyEntry(p.rec.id, p.gone);
  return { uidValidity: dst.uidValidity, mapping };
}

export async function copyEntries(w: EntryWriter, src: MailboxSlot, uids: number[], dst: MailboxSlot): Promise<CopyResult> {
  const at = w.clock.now();
  const copies = selectRecs(src, uids).map((rec) => ({
    uid: rec.uid,
    id: entryId(dst.id, rec.hash, randomId()),
    doc: newEntry(dst.id, rec.hash, rec.size, rec.internalDate, rec.flags, at),
  }));
  await w.docs.bulkPut(copies.map((c) => ({ type: DOC.entry, id: c.id, content: c.doc })));
  const mapping: Array<[number, number]> = [];
  for (const c of copies) {
    const rec = await w.index.applyEntry(c.id, c.doc);
    if (rec) mapping.push([c.uid, rec.uid]);
  }
  return { uidValidity: dst.uidValidity, mapping };
}

/** Marks the entries expunged (an earlier expunge stamp is kept). */
export async function expungeEntries(w: EntryWriter, slot: MailboxSlot, uids: number[]): Promise<number[]> {
  const bases: Array<{ rec: EntryRec; base: EntryDoc }> = [];
  for (const rec of selectRecs(slot, uids)) bases.push({ rec, base: await w.current(rec) });
  const at = w.clock.now();
  const gone = bases.map(({ rec, base }) => ({ rec, doc: { ...base, expunged: base.expunged ?? at } }));
  await w.docs.bulkPut(gone.map((g) => ({ type: DOC.entry, id: g.rec.id, content: g.doc })));
  for (const g of gone) await w.index.applyEntry(g.rec.id, g.doc);
  return gone.map((g) => g.rec.uid);
}
