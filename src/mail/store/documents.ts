// The mutable mail documents as stored in the synced DocumentStore (DESIGN.md
// "Documents"). Blob and structure documents are immutable and keyed by the
// content hash; entries and mailboxes change and merge across devices.
import type { SpecialUse } from '../mailstore.js';
/** An HLC timestamp (src/soledad/hlc.ts): plain string order is causal order. */
export type Stamp = string;

export const DOC = {
  structure: 'structure',
  entry: 'entry',
  mailbox: 'mailbox',
} as const;

/** A flag's state: [1 = set / 0 = cleared, stamp of the write that decided it]. */
export type FlagState = [0 | 1, Stamp];

/** One message in one mailbox. */
export interface EntryDoc {
  v: 1;
  mailbox: string;
  /** Hex SHA-256 of the message bytes: the blob and structure id. */
  hash: string;
  /** RFC822.SIZE, kept here so the index never needs the structure at start. */
  size: number;
  /** INTERNALDATE, epoch ms. */
  internalDate: number;
  flags: Record<string, FlagState>;
  /** Stamp of the expunge, or null. An expunged entry stays a tombstone forever. */
  expunged: Stamp | null;
}

export interface MailboxDoc {
  v: 1;
  name: string;
  nameAt: Stamp;
  subscribed: boolean;
  subscribedAt: Stamp;
  specialUse: SpecialUse | null;
  /** Creation time, epoch ms. */
  created: number;
  /** Stamp of the deletion, or null; a deleted mailbox is never resurrected by a merge. */
  deleted: Stamp | null;
}

const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'];
const SYSTEM_BY_LOWER = new Map(SYSTEM_FLAGS.map((f) => [f.toLowerCase(), f]));

/**
 * Canonical spelling of a flag: system flags are case-insensitive (RFC 3501
 * 2.3.2) and kept in their usual case; \Recent is session state, never stored.
 * Returns null for flags that are not stored.
 */
export function canonicalFlag(flag: string): string | null {
  const lower = flag.toLowerCase();
  if (lower === '\\recent') return null;
  return SYSTEM_BY_LOWER.get(lower) ?? flag;
}

export function canonicalFlags(flags: readonly string[]): string[] {
  const out = new Set<string>();
  for (const f of flags) {
    const c = canonicalFlag(f);
    if (c) out.add(c);
  }
  return [...out];
}

function flagRank(f: string): number {
  const i = SYSTEM_FLAGS.indexOf(f);
  return i < 0 ? SYSTEM_FLAGS.length : i;
}

function byFlagOrder(a: string, b: string): number {
  return flagRank(a) - flagRank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Shared read-only flag lists: 100k messages have only a handful of distinct flag sets. */
const interned = new Map<string, readonly string[]>();

/**
 * The flags that are set, system flags first in a fixed order, then keywords
 * sorted. The array is shared between messages: never mutate it.
 */
export function activeFlags(doc: EntryDoc): readonly string[] {
  const set: string[] = [];
  for (const f in doc.flags) if (doc.flags[f][0] === 1) set.push(f);
  if (set.length > 1) set.sort(byFlagOrder);
  const key = set.join(' ');
  let shared = interned.get(key);
  if (!shared) {
    shared = Object.freeze(set);
    if (interned.size < 10_000) interned.set(key, shared);
  }
  return shared;
}

/** The doc with its set of active flags made exactly `wanted`, stamped `at`. */
export function withFlags(doc: EntryDoc, wanted: readonly string[], at: Stamp): EntryDoc {
  const want = new Set(wanted);
  const flags: Record<string, FlagState> = {};
  for (const [f, state] of Object.entries(doc.flags)) {
    const on = want.has(f) ? 1 : 0;
    flags[f] = state[0] === on ? state : [on, at];
  }
  for (const f of want) if (!(f in flags)) flags[f] = [1, at];
  return { ...doc, flags };
}

export function newEntry(
  mailbox: string,
  hash: string,
  size: number,
  internalDate: number,
  flags: readonly string[],
  at: Stamp,
): EntryDoc {
  const states: Record<string, FlagState> = {};
  for (const f of canonicalFlags(flags)) states[f] = [1, at];
  return { v: 1, mailbox, hash, size, internalDate, flags: states, expunged: null };
}

export function newMailbox(name: string, specialUse: SpecialUse | null, at: Stamp, now: number): MailboxDoc {
  return { v: 1, name, nameAt: at, subscribed: true, subscribedAt: at, specialUse, created: now, deleted: null };
}
