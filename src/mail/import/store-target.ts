// The mail store side of `sealmail import`: used by the running daemon (for
// its control socket) and by the CLI when no daemon runs (store opened
// directly). Messages go through the store's normal delivery path, so IMAP
// clients of a running daemon see them at once.
import type { OpenedMailStore } from '../store/index.js';
import type { ImportMessage } from './run.js';

/** Creates `mailbox` when missing; how many copies of each content hash it holds. */
export async function prepareMailbox(mail: OpenedMailStore, mailbox: string): Promise<Map<string, number>> {
  const exists = (await mail.listMailboxes()).some((m) => m.name === mailbox || (m.name === 'INBOX' && mailbox.toUpperCase() === 'INBOX'));
  if (!exists) await mail.createMailbox(mailbox);
  const counts = new Map<string, number>();
  for (const m of (await mail.messages(mailbox)).messages) counts.set(m.hash, (counts.get(m.hash) ?? 0) + 1);
  return counts;
}

/** Stores one imported message; true when this delivery id was already stored. */
export async function deliverImported(mail: OpenedMailStore, mailbox: string, message: ImportMessage, deliveryId: string): Promise<boolean> {
  const r = await mail.deliver(mailbox, message.raw, { deliveryId, flags: message.flags, internalDate: message.internalDate });
  return r.duplicate;
}
