// The fetch loop's store stage: messages that are decrypted and opened wait
// here and are stored in batches (FetchDeps.deliverMany), then their
// incoming documents are deleted in one write. While one batch is being
// stored the next accumulates, so a burst costs a few commits per batch
// rather than several per message, and a message that arrives alone is
// stored at once. Order per message as before: stored, then its incoming
// doc deleted.
import type { IncomingDoc } from '../soledad/types.js';
import { logger } from '../util/log.js';
import type { FetchDeps } from './loop.js';
import type { MessageStatus } from './status-headers.js';

const log = logger('fetch');

/** A message decrypted and opened, waiting for its batch to be stored. */
interface ReadyMessage {
  doc: IncomingDoc;
  /** Arrival order: the batch's UID order. */
  seq: number;
  raw: Buffer;
  internalDate: number;
  /** The status to remember before the message is stored (FetchLoop.stableStatus), or null. */
  memo: MessageStatus | null;
  /** null once stored and its incoming doc deleted, else why not. */
  settle(err: Error | null): void;
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

export class StoreBatcher {
  /** Messages ready to be stored, and whether a batch is being stored now. */
  private readonly ready: ReadyMessage[] = [];
  private storing = false;
  /** Batches stored and messages in them (for tests and the bench). */
  readonly counts = { batches: 0, messages: 0 };

  constructor(private readonly deps: FetchDeps) {}

  /** Stores the message and then deletes its incoming doc, in a batch when the store can; null when done, else the error. */
  async store(doc: IncomingDoc, seq: number, raw: Buffer, internalDate: number, memo: MessageStatus | null = null): Promise<Error | null> {
    if (!this.deps.deliverMany) {
      try {
        if (memo) await this.deps.statusMemo?.put([{ id: doc.id, status: memo }]);
        await this.deps.deliver('INBOX', raw, { deliveryId: doc.id, internalDate });
        await this.deps.removeIncoming(doc.id);
        return null;
      } catch (err) {
        return asError(err);
      }
    }
    return new Promise<Error | null>((settle) => {
      this.ready.push({ doc, seq, raw, internalDate, memo, settle });
      this.storeReady();
    });
  }

  /**
   * Starts storing what is ready, unless a batch is being stored (then it
   * goes once that one is stored). A batch's incoming docs are deleted while
   * the next batch is being stored: the two writes are independent, and the
   * next batch's UIDs still come after this one's.
   */
  private storeReady(): void {
    if (this.storing || this.ready.length === 0) return;
    this.storing = true;
    // All that is ready: bounded by the slots (CONCURRENCY, BYTES_IN_FLIGHT) each message holds until stored.
    const batch = this.ready.splice(0).sort((a, b) => a.seq - b.seq);
    this.counts.batches++;
    this.counts.messages += batch.length;
    void this.storeBatch(batch).then(async (outcomes) => {
      this.storing = false;
      this.storeReady();
      await this.removeStored(batch, outcomes).catch((err: unknown) => {
        for (let i = 0; i < batch.length; i++) if (outcomes[i] === null) outcomes[i] = asError(err);
      });
      batch.forEach((r, i) => r.settle(outcomes[i] === undefined ? new Error('the store gave no outcome for this message') : outcomes[i]!));
    });
  }

  /**
   * Stores one batch; per message null (stored) or the error. One message's
   * failure is its own: a batch that fails as a whole is stored again one
   * message at a time. Never throws.
   */
  private async storeBatch(batch: ReadyMessage[]): Promise<Array<Error | null>> {
    const items = batch.map((r) => ({ raw: r.raw, deliveryId: r.doc.id, internalDate: r.internalDate }));
    // The batch's status memos first, in one write: none of its messages is stored before they are.
    const memos = batch.flatMap((r) => (r.memo ? [{ id: r.doc.id, status: r.memo }] : []));
    try {
      if (memos.length > 0) await this.deps.statusMemo?.put(memos);
    } catch (err) {
      return batch.map(() => asError(err));
    }
    try {
      return await this.deps.deliverMany!('INBOX', items);
    } catch (err) {
      if (batch.length === 1) return [asError(err)];
      log.warn({ count: batch.length, err: (err as Error).message }, 'storing a batch failed; storing its messages one by one');
      const outcomes: Array<Error | null> = [];
      for (const { raw, deliveryId, internalDate } of items) outcomes.push(await this.deps.deliver('INBOX', raw, { deliveryId, internalDate }).then(() => null, asError));
      return outcomes;
    }
  }

  /**
   * Deletes the incoming docs of the stored messages of a batch, in one write
   * when it can (only after they are stored: a crash in between leaves
   * incoming docs whose messages the retry finds by delivery id). A removal
   * that fails is that message's failure.
   */
  private async removeStored(batch: ReadyMessage[], outcomes: Array<Error | null>): Promise<void> {
    const stored = batch.filter((_, i) => outcomes[i] === null);
    if (stored.length === 0) return;
    if (this.deps.removeIncomingMany) {
      try {
        await this.deps.removeIncomingMany(stored.map((r) => r.doc.id));
        return;
      } catch (err) {
        log.warn({ count: stored.length, err: (err as Error).message }, 'deleting a batch of incoming documents failed; deleting them one by one');
      }
    }
    for (const r of stored) {
      outcomes[batch.indexOf(r)] = await this.deps.removeIncoming(r.doc.id).then(() => null, asError);
    }
  }
}
