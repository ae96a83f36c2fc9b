// Device-local state, kept in the `local` DocumentStore that is never synced:
// the UID and MODSEQ this device gave each entry, and each mailbox's
// UIDVALIDITY. UIDs are this daemon's own (the mail client only talks to its
// own daemon), so they must survive restarts but never travel.
//
// A UID record is kept as its own document ('uid', id = entry id) when a few
// are written at once, and as part of a 'uid-batch' document (many records,
// written once, never rewritten) when a batch is large or holds a burst of
// new entries: the first index build of 100k messages then writes ~50
// documents instead of 100k (each PouchDB document write costs ~50-80 µs
// plus its type-index entry), a fetch-loop batch one. Both kinds live
// in the same local changes feed; read in feed order, the latest write of an
// entry's record wins, whichever kind carried it.
import type { Doc, DocumentStore } from '../../soledad/types.js';
import { randomId } from './ids.js';

export const LOCAL = {
  uid: 'uid',
  uidBatch: 'uid-batch',
  mailboxState: 'mailbox-state',
} as const;

/** From this many records on, a batch is written as 'uid-batch' documents. */
const BATCH_FROM = 100;
/**
 * ...and from this many records of entries seen for the first time (a burst
 * of the fetch loop, a sync bringing mail), those go in one: a record of a
 * new entry replaces no earlier record, and ~30 per store batch as 'uid'
 * documents were a third of the fetch loop's document writes. The cost: an
 * entry whose record changes later leaves ~60 B of stale record in its
 * batch document (its own 'uid' document supersedes it).
 */
const FRESH_BATCH_FROM = 8;
/** Records per 'uid-batch' document (~60 B each: well under 256 KiB of JSON). */
const PER_BATCH_DOC = 2000;

/** A 'uid-batch' document: [entry id, m, u, s, f, x] per record. */
interface UidBatch {
  r: Array<[string, string, number, number, string, 0 | 1]>;
}

/** A UID record to persist; `fresh` when its entry was seen for the first time (see FRESH_BATCH_FROM). */
export interface PendingUidRecord {
  id: string;
  record: UidRecord;
  fresh?: boolean;
}

/**
 * The documents that persist these UID records, in an order that keeps the
 * latest record of an entry last in the feed: one document per record, or
 * batch documents for many (a fresh record precedes any change of its entry).
 */
export function uidRecordDocs(records: readonly PendingUidRecord[]): Doc[] {
  if (records.length >= BATCH_FROM) return batchDocs(records);
  const fresh = records.filter((r) => r.fresh);
  const packed = fresh.length >= FRESH_BATCH_FROM ? fresh : [];
  const single = packed.length > 0 ? records.filter((r) => !r.fresh) : records;
  return [...batchDocs(packed), ...single.map(({ id, record }) => ({ type: LOCAL.uid, id, content: record }))];
}

function batchDocs(records: readonly PendingUidRecord[]): Doc[] {
  const docs: Doc[] = [];
  for (let i = 0; i < records.length; i += PER_BATCH_DOC) {
    const r: UidBatch['r'] = records.slice(i, i + PER_BATCH_DOC).map(({ id, record: x }) => [id, x.m, x.u, x.s, x.f, x.x]);
    docs.push({ type: LOCAL.uidBatch, id: randomId(), content: { r } satisfies UidBatch });
  }
  return docs;
}

/** What this device last showed of an entry. */
export interface UidRecord {
  /** Mailbox id. */
  m: string;
  /** UID (never reused: the record outlives the expunge). */
  u: number;
  /** MODSEQ of the last visible change. */
  s: number;
  /** Active flags as shown, space-separated: a change found at start-up gets a new MODSEQ. */
  f: string;
  /** 1 once expunged. */
  x: 0 | 1;
}

export interface MailboxState {
  uidValidity: number;
}

export interface DeviceState {
  records: Map<string, UidRecord>;
  states: Map<string, MailboxState>;
  /** Position in the local changes feed these reflect. */
  localSeq: string | undefined;
}

/**
 * Reads the UID records and mailbox states written after `since` (all of them
 * without it) from the local changes feed, which also yields its position.
 */
export async function loadDeviceState(local: DocumentStore, since?: string): Promise<DeviceState> {
  const records = new Map<string, UidRecord>();
  const states = new Map<string, MailboxState>();
  let localSeq = since;
  for await (const c of local.changes({ since })) {
    localSeq = c.seq;
    if (c.content === null) continue;
    if (c.type === LOCAL.uid) records.set(c.id, c.content as UidRecord);
    else if (c.type === LOCAL.uidBatch) {
      for (const [id, m, u, s, f, x] of (c.content as UidBatch).r) records.set(id, { m, u, s, f, x });
    } else if (c.type === LOCAL.mailboxState) states.set(c.id, c.content as MailboxState);
  }
  return { records, states, localSeq };
}

/** Advances a local feed position to the end of the feed. */
export async function localFeedEnd(local: DocumentStore, since: string | undefined): Promise<string | undefined> {
  let seq = since;
  for await (const c of local.changes({ since })) seq = c.seq;
  return seq;
}
