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

export async function loadUidRecords(local: DocumentStore): Promise<Map<string, UidRecord>> {
  const out = new Map<string, UidRecord>();
  for await (const d of local.query<UidRecord>(LOCAL.uid)) out.set(d.id, d.content);
  return out;
}

export async function loadMailboxStates(local: DocumentStore): Promise<Map<string, MailboxState>> {
  const out = new Map<string, MailboxState>();
  for await (const d of local.query<MailboxState>(LOCAL.mailboxState)) out.set(d.id, d.content);
  return out;
}
