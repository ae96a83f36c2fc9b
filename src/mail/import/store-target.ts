// The mail store side of `sealmail import`: used by the running daemon (for
// its control socket) and by the CLI when no daemon runs (store opened
// directly). Messages go through the store's normal delivery path, so IMAP
// clients of a running daemon see them at once.
import type { OpenedMailStore } from '../store/index.js';
import type { ImportDelivery } from './run.js';

/** Creates `mailbox` when missing; how many copies of each content hash it holds. */
export async function prepareMailbox(mail: OpenedMailStore, mailbox: string): Promise<Map<string, number>> {
  const exists = (await mail.listMailboxes()).some((m) => m.name === mailbox || (m.name === 'INBOX' && mailbox.toUpperCase() === 'INBOX'));
  if (!exists) await mail.createMailbox(mailbox);
  const counts = new Map<string, number>();
  for (const m of (await mail.messages(mailbox)).messages) counts.set(m.hash, (counts.get(m.hash) ?? 0) + 1);
  return counts;
}

/**
 * Stores a batch of imported messages with one deliverMany: their contents
 * are written together and their entries in one write, UIDs in the order of
 * the batch (the source's). Per message, true when its delivery id was
 * already stored. A failure stops the import (the first error is thrown, once
 * the batch has settled): what was stored is kept, and a run again stores
 * the rest, each delivery id once.
 */
export async function deliverImported(mail: OpenedMailStore, mailbox: string, batch: ImportDelivery[]): Promise<boolean[]> {
  const outcomes = await mail.deliverMany(
    mailbox,
    batch.map(({ message, deliveryId }) => ({ raw: message.raw, deliveryId, flags: message.flags, internalDate: message.internalDate })),
  );
  const failed = outcomes.find((o): o is Error => o instanceof Error);
  if (failed) throw failed;
  return outcomes.map((o) => !(o instanceof Error) && o.duplicate);
}
