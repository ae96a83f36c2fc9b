// Device-local state, kept in the `local` DocumentStore that is never synced:
// the UID and MODSEQ this device gave each entry, and each mailbox's
// UIDVALIDITY. UIDs are this daemon's own (the mail client only talks to its
// own daemon), so they must survive restarts but never travel.
import type { DocumentStore } from '../../soledad/types.js';

export const LOCAL = {
  uid: 'uid',
  mailboxState: 'mailbox-state',
} as const;

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
    else if (c.type === LOCAL.mailboxState) states.set(c.id, c.content as MailboxState);
  }
  return { records, states, localSeq };
}

/** Advances a local feed position to the end of the feed. */
export async function localFeedEnd(local: DocumentStore, since: string | undefined): Promise<string | undefined> {
  let seq = since;
  for await (const c of local.changes({ since })) seq = c.seq;
  return seq;
}
