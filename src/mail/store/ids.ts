// Identities of the mail documents. Content is addressed by the SHA-256 of its
// exact bytes (hex, as MessageMeta.hash); entry ids are derived, not random, so
// that a delivery repeated after a crash writes the same entry again instead
// of a second copy (DESIGN.md "Documents").
import { createHash, randomBytes } from 'node:crypto';

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Entry id for (mailbox, message, delivery). The fetch loop passes the incoming
 * document's id as deliveryId (idempotent); APPEND and COPY pass a random one
 * (the same bytes appended twice are two messages, RFC 3501 6.3.11).
 */
export function entryId(mailboxId: string, hash: string, deliveryId: string): string {
  return createHash('sha256').update(`${mailboxId}\n${hash}\n${deliveryId}`).digest('base64url').slice(0, 32);
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
