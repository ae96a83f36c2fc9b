// Deterministic merges of the mutable documents, for Soledad's conflict
// resolution (registerMerge) and for the index folding in changes that
// arrive out of order. Both are commutative, associative and idempotent:
// per-flag last writer wins by stamp; an expunge or a mailbox deletion wins
// over everything and is never undone.
import type { EntryDoc, FlagState, MailboxDoc } from './documents.js';

/** Newer stamp wins; equal stamps (one write) prefer "set" so the result does not depend on order. */
function laterFlag(a: FlagState, b: FlagState): FlagState {
  if (a[1] !== b[1]) return a[1] > b[1] ? a : b;
  return a[0] >= b[0] ? a : b;
}

/** The earliest of two tombstones (null = none). */
function firstTombstone(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return a < b ? a : b;
}

/** Picks one of two values by a total order, so a merge of inconsistent copies is still deterministic. */
function pick<T>(a: T, b: T): T {
  if (a === b) return a;
  return JSON.stringify(a) <= JSON.stringify(b) ? a : b;
}

/**
 * The content of an entry (hash, size, internal date) is chosen as one: two
 * devices that stored the same incoming document write the same entry id with
 * bytes that may differ (one knew the signer's key: X-Sealmail-Signature), and
 * a size taken from one and a hash from the other would break RFC822.SIZE.
 * The lower hash wins, so every device settles on the same content.
 */
function pickContent(a: EntryDoc, b: EntryDoc): EntryDoc {
  if (a.hash !== b.hash) return a.hash < b.hash ? a : b;
  if (a.size !== b.size) return a.size < b.size ? a : b;
  return a.internalDate <= b.internalDate ? a : b;
}

export function mergeEntry(a: EntryDoc, b: EntryDoc): EntryDoc {
  const flags: Record<string, FlagState> = { ...a.flags };
  for (const [f, state] of Object.entries(b.flags)) {
    flags[f] = flags[f] ? laterFlag(flags[f], state) : state;
  }
  const content = pickContent(a, b);
  return {
    v: 1,
    // The entry id derives from the mailbox: equal by construction.
    mailbox: pick(a.mailbox, b.mailbox),
    hash: content.hash,
    size: content.size,
    internalDate: content.internalDate,
    flags: sortKeys(flags),
    expunged: firstTombstone(a.expunged, b.expunged),
  };
}

export function mergeMailbox(a: MailboxDoc, b: MailboxDoc): MailboxDoc {
  // Each field is the max of (stamp, value): a semilattice, so the merge is associative too.
  const name = later([a.nameAt, a.name], [b.nameAt, b.name]);
  const sub = later([a.subscribedAt, a.subscribed ? 1 : 0], [b.subscribedAt, b.subscribed ? 1 : 0]);
  return {
    v: 1,
    name: name[1],
    nameAt: name[0],
    subscribed: sub[1] === 1,
    subscribedAt: sub[0],
    specialUse: pick(a.specialUse, b.specialUse),
    created: Math.min(a.created, b.created),
    deleted: firstTombstone(a.deleted, b.deleted),
  };
}

function later<V extends string | number>(a: [string, V], b: [string, V]): [string, V] {
  if (a[0] !== b[0]) return a[0] > b[0] ? a : b;
  return a[1] >= b[1] ? a : b;
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}

/** Merge rules in the shape Soledad's registerMerge takes: entry and mailbox tombstones always win. */
export const MAIL_MERGE_RULES = {
  entry: { merge: mergeEntry, isTombstone: (d: EntryDoc): boolean => d.expunged !== null },
  mailbox: { merge: mergeMailbox, isTombstone: (d: MailboxDoc): boolean => d.deleted !== null },
} as const;
