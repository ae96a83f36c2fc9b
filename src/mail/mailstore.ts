// The seam between the IMAP engine (src/imap) and the mail backend. The IMAP
// server only ever talks to this interface, so it can run against the
// Soledad-backed store (src/mail/soledad-store) or an in-memory one in tests.
//
// Identities: a mailbox has a stable `id` (survives RENAME); a message in a
// mailbox is addressed by its UID, which is device-local, persistent, strictly
// increasing within the mailbox and never reused (RFC 3501 2.3.1.1). A
// message's content is addressed by `hash` (SHA-256 of the exact bytes, hex):
// the same message in two mailboxes shares one blob and one structure.
import type { Readable } from 'node:stream';
import type { MessageStructure } from './structure/types.js';
import type { SummaryCache } from './store/summary-cache.js';

export type SpecialUse = '\\All' | '\\Archive' | '\\Drafts' | '\\Flagged' | '\\Junk' | '\\Sent' | '\\Trash';

export interface MailboxInfo {
  id: string;
  /** Full name with '/' as hierarchy delimiter; "INBOX" is always upper-case. */
  name: string;
  specialUse: SpecialUse | null;
  subscribed: boolean;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
}

export interface MailboxStatus extends MailboxInfo {
  messages: number;
  unseen: number;
  /** Sum of RFC822.SIZE of all messages (STATUS SIZE, RFC 8438). */
  size: number;
}

/** Per-mailbox metadata of one message, as the IMAP session keeps it in memory. */
export interface MessageMeta {
  uid: number;
  /** Content address of the bytes (hex SHA-256). */
  hash: string;
  /** System flags (\Seen, \Answered, \Flagged, \Deleted, \Draft) and keywords. */
  flags: string[];
  modseq: number;
  /** INTERNALDATE, epoch ms. */
  internalDate: number;
  /** RFC822.SIZE. */
  size: number;
}

export type FlagOperation = 'set' | 'add' | 'remove';

export interface AppendOptions {
  flags?: string[];
  internalDate?: number;
}

export interface AppendResult {
  uidValidity: number;
  uid: number;
}

export interface CopyResult {
  uidValidity: number;
  /** [source uid, destination uid] pairs, in source uid order (RFC 4315 COPYUID). */
  mapping: Array<[number, number]>;
}

export interface StoreResult {
  /** Messages whose flags or modseq changed, with their new state. */
  updated: MessageMeta[];
  /** UIDs not changed because their modseq exceeded UNCHANGEDSINCE (RFC 7162 3.1.3). */
  modified: number[];
}

/** A change to a mailbox, from this device or arriving by sync/fetch. */
export type MailboxChange =
  | { kind: 'exists'; mailboxId: string; message: MessageMeta }
  | { kind: 'flags'; mailboxId: string; message: MessageMeta }
  | { kind: 'expunge'; mailboxId: string; uid: number; modseq: number }
  | { kind: 'mailboxes' };

export class MailStoreError extends Error {
  constructor(
    /** Maps onto IMAP response codes: NONEXISTENT, ALREADYEXISTS, CANNOT, TRYCREATE, OVERQUOTA, LIMIT. */
    readonly code: 'NONEXISTENT' | 'ALREADYEXISTS' | 'CANNOT' | 'TRYCREATE' | 'OVERQUOTA' | 'LIMIT' | 'CORRUPTION',
    message: string,
  ) {
    super(message);
    this.name = 'MailStoreError';
  }
}

export interface MailStore {
  /** All mailboxes, sorted by name. */
  listMailboxes(): Promise<MailboxInfo[]>;
  status(mailbox: string): Promise<MailboxStatus>;
  createMailbox(name: string, opts?: { specialUse?: SpecialUse }): Promise<MailboxInfo>;
  /** Deletes the mailbox and expunges its messages. INBOX cannot be deleted. */
  deleteMailbox(name: string): Promise<void>;
  /** RENAME; renaming INBOX moves its messages to a new mailbox (RFC 3501 6.3.5). */
  renameMailbox(from: string, to: string): Promise<void>;
  setSubscribed(name: string, subscribed: boolean): Promise<void>;

  /** A snapshot of a mailbox's messages in UID order (for SELECT/EXAMINE). */
  messages(mailbox: string): Promise<{ info: MailboxInfo; messages: MessageMeta[] }>;

  /** Stores a message. The source is streamed; `size` bounds it when known. */
  append(mailbox: string, source: AsyncIterable<Buffer> | Buffer, opts?: AppendOptions): Promise<AppendResult>;
  storeFlags(
    mailbox: string,
    uids: number[],
    op: FlagOperation,
    flags: string[],
    opts?: { unchangedSince?: number },
  ): Promise<StoreResult>;
  copy(from: string, uids: number[], to: string): Promise<CopyResult>;
  /** RFC 6851 MOVE: copy + expunge as one operation. */
  move(from: string, uids: number[], to: string): Promise<CopyResult>;
  /** Permanently removes the given UIDs (the caller decides which: \Deleted ones, or UID EXPUNGE's set). */
  expunge(mailbox: string, uids: number[]): Promise<number[]>;

  /** The structure document of a message's content. */
  structure(hash: string): Promise<MessageStructure>;
  /** The raw bytes [start, end) of a message's content, streamed. */
  read(hash: string, start?: number, end?: number): Readable;
  /** ENVELOPE/BODY/BODYSTRUCTURE bytes and search fields by content hash, when the store keeps them (kept across restarts). */
  readonly summaries?: SummaryCache;

  /** Live changes, for IDLE and unsolicited responses. Returns an unsubscribe function. */
  subscribe(listener: (change: MailboxChange) => void): () => void;
}
