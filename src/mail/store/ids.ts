// Identities of the mail documents. Content is addressed by the SHA-256 of its
// exact bytes (hex, as MessageMeta.hash); entry ids are derived, not random, so
// that a delivery repeated after a crash writes the same entry again instead
// of a second copy (DESIGN.md "Documents").
import { createHash, randomBytes } from 'node:crypto';

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Entry id for (mailbox, message, copy): COPY and MOVE pass a random copyId.
 * Deliveries used it with the incoming document's id until they got
 * deliveryEntryId; entries stored then keep their ids (see legacy use in
 * DocumentMailStore.deliver).
 */
export function entryId(mailboxId: string, hash: string, copyId: string): string {
  return createHash('sha256').update(`${mailboxId}\n${hash}\n${copyId}`).digest('base64url').slice(0, 32);
}

/**
 * Entry id for a delivery into a mailbox: derived from the delivery's id
 * alone, not from the bytes. Two devices of an account may both store the
 * same incoming document, and their bytes differ when only one of them knows
 * the sender's key (X-Sealmail-Signature): both must write the same entry, so
 * that sync merges the two into one message (mergeEntry picks one content).
 * The fetch loop passes the incoming document's id (a repeat is a no-op);
 * APPEND a random one (the same bytes appended twice are two messages,
 * RFC 3501 6.3.11). A distinct prefix keeps these ids apart from entryId's.
 */
export function deliveryEntryId(mailboxId: string, deliveryId: string): string {
  return createHash('sha256').update(`delivery\n${mailboxId}\n${deliveryId}`).digest('base64url').slice(0, 32);
}

export function randomId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Default mailboxes have fixed ids, so two devices that each create INBOX
 * before they first sync end up with one INBOX, not two.
 */
export function defaultMailboxId(name: string): string {
  return `default-${name.toLowerCase()}`;
}

/** Temporary blob id while a streamed source is hashed. */
export function spoolBlobId(): string {
  return `spool-${randomId()}`;
}
